import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Cloudflare from 'cloudflare';
import { runEdgecert, type Spawned } from '../helpers/process.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { createDatabase } from '../helpers/postgres.js';
import { onPostgres, removeDir } from '../helpers/server.js';
import { eventually } from '../helpers/eventually.js';
import { openStore } from '../../src/storage/connect.js';
import { handshake, request, startEchoOrigin } from '../helpers/tls.js';

/**
 * Many nodes on one PostgreSQL (issue: PostgreSQL and many nodes): two API processes and two
 * edge processes started together on a fresh database. Runs in the PostgreSQL pass only.
 */
const skip = !onPostgres() && 'PostgreSQL pass only (test/run.ts)';

describe('two API nodes and two edge nodes on one PostgreSQL', { skip }, () => {
  let pki: TestPki;
  let origin: Awaited<ReturnType<typeof startEchoOrigin>>;
  let dir: string;
  let env: Record<string, string>;
  const token = randomBytes(32).toString('base64url');
  const api: Array<{ proc: Spawned; url: string; client: Cloudflare }> = [];
  const edges: Array<{ proc: Spawned; address: string }> = [];
  let zoneId: string;

  const startApi = async () => {
    const proc = runEdgecert(['serve', '--role', 'api', '--api-listen', '127.0.0.1:0'], env);
    const url = (await proc.waitFor(/API listening on (\S+)\/client\/v4/, 60_000))[1]!;
    return { proc, url, client: new Cloudflare({ apiToken: token, baseURL: `${url}/client/v4`, maxRetries: 0 }) };
  };
  const call = async (node: number, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${api[node]!.url}/client/v4${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    pki = await makeTestPki();
    origin = await startEchoOrigin();
    dir = mkdtempSync(path.join(tmpdir(), 'edgecert-nodes-'));
    writeFileSync(path.join(dir, 'trust.pem'), pki.trustPem);
    env = {
      EDGECERT_DATABASE_URL: await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!),
      // Every node must hold the same master key: any node may decrypt what another stored.
      EDGECERT_MASTER_KEY: randomBytes(32).toString('base64'),
      EDGECERT_BOOTSTRAP_TOKEN: token,
      EDGECERT_TRUST_CA_FILE: path.join(dir, 'trust.pem'),
      EDGECERT_DATA_DIR: dir,
      EDGECERT_ORIGIN_SCHEME: 'http',
      EDGECERT_ORIGIN_PORT: String(origin.port),
      EDGECERT_LOG_LEVEL: 'warn',
    };
    // All four start at once on an empty database: migrations serialise on the advisory lock.
    // Edge node 2 polls the change feed once an hour: only NOTIFY can bring it a change in time.
    const edgeProcs = ([{}, { EDGECERT_CHANGE_POLL_INTERVAL: '1h' }] as Record<string, string>[]).map((extra) => runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], { ...env, ...extra }));
    api.push(...(await Promise.all([startApi(), startApi()])));
    for (const proc of edgeProcs) edges.push({ proc, address: (await proc.waitFor(/edge listening on (\S+) \(TLS\)/, 60_000))[1]! });
    const [account] = (await api[0]!.client.accounts.list()).result;
    zoneId = (await api[0]!.client.zones.create({ name: 'nodes-saas.com', account: { id: account!.id } })).id;
    await call(1, 'PUT', `/zones/${zoneId}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
  });

  after(async () => {
    for (const n of [...api.map((a) => a.proc), ...edges.map((e) => e.proc)]) n.child.kill('SIGTERM');
    await Promise.all([...api.map((a) => a.proc.exited), ...edges.map((e) => e.proc.exited)]);
    await origin.close();
    removeDir(dir);
  });


  test('NOTIFY alone wakes an edge node: edge node 2 (polling hourly) serves a new hostname within 3 s', async () => {
    const created = await call(0, 'POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'notify.customer.com', ssl: await bundle('notify.customer.com') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const hs = await eventually(() => handshake(edges[1]!.address, { servername: 'notify.customer.com', ca: pki.trustPem }), (r) => r.ok, 'served through NOTIFY', 3000);
    assert.equal(hs.authorized, true);
  });

  const bundle = async (host: string) => {
    const [rsa, ec] = [await pki.leaf({ hosts: [host], keyType: 'rsa' }), await pki.leaf({ hosts: [host], keyType: 'ecdsa' })];
    return { custom_cert_bundle: [rsa, ec].map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) };
  };

  test('a change through API node 1 is served by edge node 2 (and node 1); a read on API node 2 sees it', async () => {
    const created = await call(0, 'POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'multi.customer.com', ssl: await bundle('multi.customer.com') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const edge of [edges[1]!, edges[0]!]) {
      const hs = await eventually(() => handshake(edge.address, { servername: 'multi.customer.com', ca: pki.trustPem }), (r) => r.ok, 'served');
      assert.equal(hs.authorized, true);
    }
    const res = await request(edges[1]!.address, { servername: 'multi.customer.com', ca: pki.trustPem, path: '/via-node-2' });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).url, '/via-node-2');
    assert.equal((await api[1]!.client.customHostnames.get(created.body.result.id, { zone_id: zoneId })).hostname, 'multi.customer.com');
  });

  test('racing deletes of a pack’s two certificates sent to two API nodes: exactly one wins (×15)', async () => {
    const ssl = await bundle('*.race.customer.com');
    for (let i = 0; i < 15; i++) {
      const h = (await call(i % 2, 'POST', `/zones/${zoneId}/custom_hostnames`, { hostname: `r${i}.race.customer.com`, ssl })).body.result;
      assert.ok(h, `round ${i}: created`);
      const paths = h.ssl.certificates.map((c: any) => `/zones/${zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.ssl.id}/certificates/${c.id}`);
      const [a, b] = await Promise.all([call(0, 'DELETE', paths[0]), call(1, 'DELETE', paths[1])]);
      assert.deepEqual([a.status, b.status].sort(), [200, 400], `round ${i}`);
      const after = await call(1, 'GET', `/zones/${zoneId}/custom_hostnames/${h.id}`);
      assert.equal(after.body.result.ssl.certificates.length, 1);
    }
  });

  test('the CA quota holds across nodes: racing sixth uploads on two nodes, one slot, one winner', async () => {
    const account = (await api[0]!.client.accounts.list()).result[0]!.id;
    const { makeRoot } = await import('../helpers/pki.js');
    for (let i = 0; i < 4; i++) assert.equal((await call(i % 2, 'POST', `/accounts/${account}/mtls_certificates`, { ca: true, certificates: (await makeRoot(`N${i}`)).pem })).status, 200);
    const [x, y] = await Promise.all([
      call(0, 'POST', `/accounts/${account}/mtls_certificates`, { ca: true, certificates: (await makeRoot('X')).pem }),
      call(1, 'POST', `/accounts/${account}/mtls_certificates`, { ca: true, certificates: (await makeRoot('Y')).pem }),
    ]);
    assert.deepEqual([x.status, y.status].sort(), [200, 400]);
    assert.equal([x, y].find((r) => r.status === 400)!.body.errors[0].code, 1489);
  });

  test('killing an API node mid-burst loses nothing it committed', async () => {
    const ssl = await bundle('*.burst.customer.com');
    const acknowledged: string[] = [];
    let cut = 0;
    let killed = false;
    let n = 0;
    // Four clients keep creating until the node dies under them: some requests are in flight then.
    const clients = Array.from({ length: 4 }, async () => {
      while (!killed) {
        const i = n++;
        await call(0, 'POST', `/zones/${zoneId}/custom_hostnames`, { hostname: `b${i}.burst.customer.com`, ssl }).then(
          (r) => {
            if (r.status === 201) acknowledged.push(r.body.result.id);
          },
          () => cut++, // cut off by the kill: may or may not have committed
        );
      }
    });
    await new Promise((r) => setTimeout(r, 400));
    api[0]!.proc.child.kill('SIGKILL');
    killed = true;
    await Promise.all(clients);
    await api[0]!.proc.exited;
    assert.ok(acknowledged.length > 0, 'some creates were acknowledged before the kill');
    api[0] = await startApi(); // a replacement node on the same database
    for (const id of acknowledged) {
      const got = await call(1, 'GET', `/zones/${zoneId}/custom_hostnames/${id}`);
      assert.equal(got.status, 200, `acknowledged ${id} is there`);
      assert.equal(got.body.result.ssl.certificates.length, 2, 'with its whole pack: no half-written transaction');
    }
    // Whatever committed without an answer is whole too.
    const all = await call(0, 'GET', `/zones/${zoneId}/custom_hostnames?hostname.contain=burst&per_page=50`);
    for (const h of all.body.result) assert.equal(h.ssl.certificates.length, 2);
    assert.ok(all.body.result.length >= acknowledged.length);
  });
});

describe('the change feed on PostgreSQL', { skip }, () => {
  test('sequence numbers follow commit order: a write that draws its number later commits later', async () => {
    const url = await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!);
    const [a, b] = [await openStore(url), await openStore(url)];
    try {
      await a.migrate();
      const committed: string[] = [];
      // Write 1 draws its number, then holds its transaction open; write 2 starts meanwhile.
      const first = a.write({ kind: 'zone', zoneId: null, entityId: 'slow' }, async (_trx, tx) => {
        const seq = await tx.sequence();
        await new Promise((r) => setTimeout(r, 400));
        return seq;
      }).then((seq) => (committed.push('slow'), seq));
      await new Promise((r) => setTimeout(r, 100));
      const second = await b.write({ kind: 'zone', zoneId: null, entityId: 'fast' }, (_trx, tx) => tx.sequence()).then((seq) => (committed.push('fast'), seq));
      const firstSeq = await first;
      assert.ok(second > firstSeq, `the later write has the higher number (${firstSeq}, ${second})`);
      // Without ordering, "fast" would commit first and a reader at its number would skip "slow".
      assert.deepEqual(committed, ['slow', 'fast']);
      assert.deepEqual((await b.changes.since(b.db, 0)).map((c) => c.entity_id), ['slow', 'fast']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('edgecert migrate on PostgreSQL', { skip }, () => {
  test('applies every migration to an empty database, then finds nothing to do', async () => {
    const url = await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!);
    const env = { EDGECERT_DATABASE_URL: url, EDGECERT_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'edgecert-migrate-')) };
    const first = runEdgecert(['migrate'], env);
    assert.equal(await first.exited, 0, first.stderr());
    assert.match(first.stdout(), /applied 001_foundation, 002_custom_hostnames, 003_custom_hostname_ssl_status, 004_mtls, 005_association_order/);
    const again = runEdgecert(['migrate'], env);
    assert.equal(await again.exited, 0);
    assert.match(again.stdout(), /schema is up to date/);
    removeDir(env.EDGECERT_DATA_DIR);
  });
});
