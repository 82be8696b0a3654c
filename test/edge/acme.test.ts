import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestServer, removeDir, onPostgres, type TestServer } from '../helpers/server.js';
import { runEdgecert } from '../helpers/process.js';
import { eventually } from '../helpers/eventually.js';
import { handshake } from '../helpers/tls.js';
import { hasPebble, startPebble, type Pebble } from '../helpers/pebble.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

/**
 * Certificates issued through ACME (issue 22) against a real ACME server: Pebble, with its mock
 * DNS pointing every name at 127.0.0.1, validating HTTP-01 challenges on edgecert's plain HTTP
 * listener. Status is read through the official SDK; the issued certificates are checked in
 * real TLS handshakes against Pebble's root.
 */
const ECDSA_ONLY = 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384';
const RSA_ONLY = 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256';
/** The documented flow of an issued certificate's ssl.status. */
const FLOW = ['pending_validation', 'pending_issuance', 'pending_deployment', 'active'];

let pebble: Pebble;
let s: TestServer;
let zoneId: string;
let dataDir: string;
let pki: TestPki;

function acmeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    EDGECERT_HTTP_LISTEN: `127.0.0.1:${pebble.httpPort}`,
    EDGECERT_ACME_DIRECTORY: pebble.directoryUrl,
    EDGECERT_ACME_CA_FILE: pebble.acmeCaFile,
    EDGECERT_ACME_EMAIL: 'certs@platform.test',
    EDGECERT_ACME_POLL_INTERVAL: '200ms',
    // The first failure is shown while validation goes on; a later one ends it.
    EDGECERT_ACME_VALIDATION_TIMEOUT: '2s',
    ...extra,
  };
}

// Pebble's root for what it issues, the test PKI's for uploads.
const start = (extra: Record<string, string> = {}) => startTestServer({ trustPem: pebble.rootPem + pki.trustPem, dataDir, env: acmeEnv(extra), ...(s ? { databaseUrl: s.databaseUrl } : {}) });

/** GET the hostname through the SDK until `accept`, recording every ssl.status seen on the way. */
async function follow(id: string, accept: (h: any) => boolean, what: string, seen: string[] = [], ms = 30_000) {
  return eventually(
    async () => {
      const h = (await s.client.customHostnames.get(id, { zone_id: zoneId })) as any;
      if (seen[seen.length - 1] !== h.ssl.status) seen.push(h.ssl.status);
      return h;
    },
    accept,
    what,
    ms,
  );
}

function plainGet(port: number, host: string, urlPath: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: urlPath, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end();
  });
}

const createIssued = async (hostname: string) =>
  (await s.client.customHostnames.create({ zone_id: zoneId, hostname, ssl: { method: 'http', type: 'dv' } })) as any;

describe('ACME issuance against Pebble', { skip: !hasPebble() && 'pebble is not installed (.ci/run installs it)' }, () => {
  before(async () => {
    pebble = await startPebble();
    pki = await makeTestPki();
    dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-acme-'));
    s = await start();
    zoneId = (await s.api('POST', '/zones', { name: 'customer.test', account: { id: s.accountId } })).body.result.id;
  });
  after(async () => {
    await s?.close();
    pebble?.close();
    removeDir(dataDir);
  });

  test('a hostname without a certificate is validated over HTTP, issued ECDSA + RSA, and served with them', async () => {
    const created = await createIssued('app.customer.test');
    assert.equal(created.ssl.status, 'pending_validation');
    assert.equal(created.status, 'pending');
    assert.equal(created.ssl.method, 'http');
    assert.deepEqual(created.ssl.certificates, []);
    const seen: string[] = [];
    const issued = await follow(created.id, (h) => h.ssl.certificates?.length === 2, 'both certificates issued', seen);
    assert.equal(issued.ssl.status, 'active');
    assert.equal(issued.status, 'active');
    assert.deepEqual(issued.ssl.validation_records, []);
    assert.deepEqual(issued.ssl.validation_errors, []);
    assert.deepEqual(issued.ssl.certificates.map((c: any) => c.key_type).sort(), ['ecdsa', 'rsa']);
    for (const c of issued.ssl.certificates) assert.deepEqual(c.hosts, ['app.customer.test']);
    // Every status seen is a step of the documented flow, in its order.
    const order = seen.map((st) => FLOW.indexOf(st));
    assert.ok(order.every((i, n) => i >= 0 && (n === 0 || i >= order[n - 1]!)), `statuses seen: ${seen.join(' → ')}`);

    // The edge serves what was issued, verified with Pebble's root: ECDSA or RSA as the client asks.
    const edge = s.running.edgeAddress!;
    const ecdsa = await handshake(edge, { servername: 'app.customer.test', ca: pebble.rootPem, sigalgs: ECDSA_ONLY });
    const rsa = await handshake(edge, { servername: 'app.customer.test', ca: pebble.rootPem, sigalgs: RSA_ONLY });
    assert.ok(ecdsa.ok && ecdsa.authorized, ecdsa.error);
    assert.ok(rsa.ok && rsa.authorized, rsa.error);
    assert.equal(ecdsa.key, 'P-256');
    assert.equal(rsa.key, 'RSA 2048');
    const fingerprint = (t: string) => issued.ssl.certificates.find((c: any) => c.key_type === t).fingerprint_sha256;
    assert.equal(ecdsa.fingerprint256!.replace(/:/g, '').toLowerCase(), fingerprint('ecdsa'));
    assert.equal(rsa.fingerprint256!.replace(/:/g, '').toLowerCase(), fingerprint('rsa'));

    // The plain HTTP listener: a served hostname is redirected to HTTPS; tokens only for their Host.
    const port = Number(s.running.httpAddress!.split(':').pop());
    const redirect = await plainGet(port, 'app.customer.test', '/login?next=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.location, 'https://app.customer.test/login?next=1');
    const ownershipPath = new URL(issued.ownership_verification_http.http_url).pathname;
    assert.deepEqual(await plainGet(port, 'app.customer.test:80', ownershipPath).then((r) => [r.status, r.body]), [200, issued.ownership_verification_http.http_body]);
    assert.equal((await plainGet(port, 'other.customer.test', ownershipPath)).status, 404);
    assert.equal((await plainGet(port, 'app.customer.test', '/.well-known/acme-challenge/no-such-token')).status, 404);
    assert.equal((await plainGet(port, 'unknown.example', '/')).status, 404);
    assert.equal((await plainGet(port, 'bad host!', '/')).status, 400);
  });

  test('a challenge the CA cannot reach: its message in validation_errors, then validation_timed_out; a PATCH retries', async () => {
    // Nothing listens on 127.0.0.2 (edgecert's listener is on 127.0.0.1): Pebble's fetch is refused.
    await pebble.setAddress('down.customer.test', '127.0.0.2');
    const created = await createIssued('down.customer.test');
    const failing = await follow(created.id, (h) => h.ssl.validation_errors.length > 0, 'the CA message shown');
    assert.match(failing.ssl.validation_errors[0].message, /127\.0\.0\.2.*connection refused/i);
    assert.match(failing.verification_errors[0], /connection refused/i);
    const timedOut = await follow(created.id, (h) => h.ssl.status === 'validation_timed_out', 'validation timed out');
    assert.match(timedOut.ssl.validation_errors[0].message, /connection refused/i);
    assert.deepEqual(timedOut.ssl.certificates, []);
    assert.equal(timedOut.status, 'pending');
    // The edge serves nothing for it.
    assert.equal((await handshake(s.running.edgeAddress!, { servername: 'down.customer.test', ca: pebble.rootPem })).ok, false);

    // Fixed (the name now points here), then retried the documented way: a PATCH of ssl.method.
    await pebble.setAddress('down.customer.test', '127.0.0.1');
    const patched = (await s.client.customHostnames.edit(created.id, { zone_id: zoneId, ssl: { method: 'http', type: 'dv' } })) as any;
    assert.equal(patched.ssl.status, 'pending_validation');
    assert.deepEqual(patched.ssl.validation_errors, []);
    await follow(created.id, (h) => h.ssl.status === 'active' && h.ssl.certificates.length === 2, 'issued after the retry');
  });

  test('an uploaded certificate is never replaced by issuance; a wildcard is not issued; deleting an issued hostname stops its work', async () => {
    const db = s.running.ctx.store.db;
    const mine = await createIssued('mine.customer.test');
    const leaf = await pki.leaf({ hosts: ['mine.customer.test'], keyType: 'ecdsa' });
    const patched = (await s.client.customHostnames.edit(mine.id, { zone_id: zoneId, ssl: { custom_cert_bundle: [{ custom_certificate: leaf.chainPem, custom_key: leaf.keyPem }] } } as any)) as any;
    assert.equal(patched.ssl.status, 'active');
    assert.equal(patched.status, 'active');
    assert.equal(await db.selectFrom('certificate_issuances').select('custom_hostname_id').where('custom_hostname_id', '=', mine.id).executeTakeFirst(), undefined);
    // Given the issuer time to act (an order it had started must not land in the customer's pack).
    await new Promise((r) => setTimeout(r, 1500));
    const after = (await s.client.customHostnames.get(mine.id, { zone_id: zoneId })) as any;
    assert.deepEqual(after.ssl.certificates.map((c: any) => c.issuer), ['edgecert Test CA']);

    // A wildcard cannot be validated over HTTP: said on the hostname, nothing ordered.
    const wild = await createIssued('*.wild.customer.test');
    assert.equal(wild.ssl.status, 'pending_validation');
    assert.match(wild.ssl.validation_errors[0].message, /wildcard hostname can only be validated through DNS/);
    assert.equal(await db.selectFrom('certificate_issuances').select('custom_hostname_id').where('custom_hostname_id', '=', wild.id).executeTakeFirst(), undefined);

    const issued = await createIssued('gone.customer.test');
    await s.client.customHostnames.delete(issued.id, { zone_id: zoneId });
    assert.equal(await db.selectFrom('certificate_issuances').select('custom_hostname_id').where('custom_hostname_id', '=', issued.id).executeTakeFirst(), undefined);
    assert.equal(await db.selectFrom('acme_challenges').select('token').where('custom_hostname_id', '=', issued.id).executeTakeFirst(), undefined);
  });

  test('an order interrupted by a restart is resumed, not started again', async () => {
    const created = await createIssued('restart.customer.test');
    const db = s.running.ctx.store.db;
    const row = await eventually(
      () => db.selectFrom('certificate_issuances').select(['order_url']).where('custom_hostname_id', '=', created.id).executeTakeFirst(),
      (r) => !!r?.order_url,
      'an order started',
    );
    await s.close();
    s = await start();
    const done = await follow(created.id, (h) => h.ssl.certificates?.length === 2, 'issued after the restart');
    assert.equal(done.ssl.status, 'active');
    const resumed = s.logs.join('').split('\n').filter((l) => l.includes('resuming ACME order'));
    assert.ok(resumed.some((l) => l.includes(row!.order_url!)), `the stored order resumed: ${resumed.join('\n')}`);
  });

  test('renewal: certificates inside the renewal window are re-issued while the old ones keep being served', async () => {
    const before = (await s.client.customHostnames.list({ zone_id: zoneId, hostname: 'app.customer.test' } as any)).result[0] as any;
    const oldFingerprints = before.ssl.certificates.map((c: any) => c.fingerprint_sha256).sort();
    await s.close();
    // Pebble's certificates last years: a renewal window longer than that makes them due now.
    s = await start({ EDGECERT_ACME_RENEW_BEFORE: '3650d' });
    const statuses: string[] = [];
    const renewed = await follow(
      before.id,
      (h) => h.ssl.certificates.length === 2 && h.ssl.certificates.every((c: any) => !oldFingerprints.includes(c.fingerprint_sha256)),
      'both certificates renewed',
      statuses,
    );
    assert.deepEqual(statuses.filter((st) => st !== 'active'), [], `a renewal never takes a served hostname out of active: ${statuses.join(' → ')}`);
    assert.deepEqual(renewed.ssl.certificates.map((c: any) => c.id).sort(), before.ssl.certificates.map((c: any) => c.id).sort(), 'renewed in their slots');
    const served = await eventually(
      () => handshake(s.running.edgeAddress!, { servername: 'app.customer.test', ca: pebble.rootPem, sigalgs: ECDSA_ONLY }),
      (h) => h.ok && h.fingerprint256!.replace(/:/g, '').toLowerCase() === renewed.ssl.certificates.find((c: any) => c.key_type === 'ecdsa').fingerprint_sha256,
      'the renewed certificate served',
    );
    assert.ok(served.authorized);
    // Back to the usual renewal window, or every certificate issued from here on would be renewed at once.
    await s.close();
    s = await start();
  });

  test('two API nodes on one database: each hostname is ordered once, by whichever node leases it', async () => {
    const second = await startTestServer({ trustPem: pebble.rootPem + pki.trustPem, dataDir, env: acmeEnv({ EDGECERT_HTTP_LISTEN: '127.0.0.1:0' }), databaseUrl: s.databaseUrl });
    try {
      const names = Array.from({ length: 6 }, (_, i) => `busy${i}.customer.test`);
      const ids = await Promise.all(names.map(async (n) => (await createIssued(n)).id as string));
      for (const id of ids) await follow(id, (h) => h.ssl.certificates?.length === 2, 'issued');
      const orders = [...s.logs, ...second.logs].join('').split('\n').filter((l) => l.includes('ACME order created') && l.includes('busy'));
      const perHostname = new Map<string, number>();
      for (const line of orders) {
        const host = JSON.parse(line).hostname as string;
        perHostname.set(host, (perHostname.get(host) ?? 0) + 1);
      }
      assert.deepEqual([...perHostname.keys()].sort(), names.sort());
      assert.deepEqual([...new Set(perHostname.values())], [2], `one order per key type and hostname: ${JSON.stringify([...perHostname])}`);
    } finally {
      await second.close();
    }
  });

  test('ssl.certificate_authority picks its ACME directory (EDGECERT_ACME_DIRECTORIES)', async () => {
    // A second CA: another Pebble, validating on the same HTTP port (the challenges are in the database).
    const google = await startPebble({ httpPort: pebble.httpPort });
    try {
      const caFile = path.join(dataDir, 'acme-cas.pem');
      writeFileSync(caFile, readFileSync(pebble.acmeCaFile, 'utf8') + readFileSync(google.acmeCaFile, 'utf8'));
      await s.close();
      s = await startTestServer({
        trustPem: pebble.rootPem + google.rootPem + pki.trustPem,
        dataDir,
        env: acmeEnv({ EDGECERT_ACME_DIRECTORIES: `google=${google.directoryUrl}`, EDGECERT_ACME_CA_FILE: caFile }),
        databaseUrl: s.databaseUrl,
      });
      const viaGoogle = (await s.client.customHostnames.create({ zone_id: zoneId, hostname: 'g.customer.test', ssl: { method: 'http', type: 'dv', certificate_authority: 'google' } })) as any;
      const viaDefault = await createIssued('d.customer.test');
      const g = await follow(viaGoogle.id, (h) => h.ssl.certificates?.length === 2, 'issued by the google directory');
      const d = await follow(viaDefault.id, (h) => h.ssl.certificates?.length === 2, 'issued by the default directory');
      assert.equal(g.ssl.certificate_authority, 'google');
      const issuerOf = (pem: string) => new X509Certificate(pem).issuer;
      const googleIntermediate = issuerOf(google.rootPem); // Pebble: "CN=Pebble Root CA <id>"
      assert.notEqual(googleIntermediate, issuerOf(pebble.rootPem));
      assert.notEqual(g.ssl.issuer, d.ssl.issuer, 'two CAs, two issuers');
      const served = await handshake(s.running.edgeAddress!, { servername: 'g.customer.test', ca: google.rootPem, sigalgs: ECDSA_ONLY });
      assert.ok(served.ok && served.authorized, `verified with the second CA's root: ${served.error}`);
      assert.equal((await handshake(s.running.edgeAddress!, { servername: 'g.customer.test', ca: pebble.rootPem, sigalgs: ECDSA_ONLY })).ok, false, 'not by the default CA');
    } finally {
      google.close();
    }
  });

  test('another edge node answers the challenges of an order this node started (shared database)', async () => {
    await s.close();
    // This node orders but listens for HTTP elsewhere; the edge-only node holds Pebble's port.
    s = await start({ EDGECERT_HTTP_LISTEN: '127.0.0.1:0' });
    const env: Record<string, string> = { EDGECERT_DATA_DIR: dataDir, EDGECERT_HTTP_LISTEN: `127.0.0.1:${pebble.httpPort}`, EDGECERT_EDGE_WORKERS: '1', EDGECERT_LOG_LEVEL: 'warn', EDGECERT_CHANGE_POLL_INTERVAL: '100ms' };
    if (onPostgres()) env.EDGECERT_DATABASE_URL = s.databaseUrl;
    const trust = path.join(dataDir, 'pebble-root.pem');
    writeFileSync(trust, pebble.rootPem);
    env.EDGECERT_TRUST_CA_FILE = trust;
    const node = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], env);
    try {
      await node.waitFor(/HTTP listening on/);
      const edge = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
      const created = await createIssued('elsewhere.customer.test');
      await follow(created.id, (h) => h.ssl.certificates?.length === 2, 'issued through the other node');
      const h = await eventually(
        () => handshake(edge, { servername: 'elsewhere.customer.test', ca: pebble.rootPem, sigalgs: ECDSA_ONLY }),
        (r) => r.ok,
        'the other node serves the issued certificate',
      );
      assert.ok(h.authorized);
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });
});
