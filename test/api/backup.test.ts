import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newBootstrapToken, onPostgres, removeDir } from '../helpers/server.js';
import { createDatabase } from '../helpers/postgres.js';
import { runEdgecert, type Spawned } from '../helpers/process.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { handshake } from '../helpers/tls.js';

/**
 * Backup and restore as an operator runs them: `edgecert backup` of a running SQLite deployment
 * under a write load, `edgecert restore` into an empty data directory, and a server started on
 * the copy serving the same hostnames and keys. On PostgreSQL: pg_dump / pg_restore, then the
 * same check.
 */
let pki: TestPki;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'edgecert-backup-'));
  dirs.push(d);
  return d;
};

before(async () => {
  pki = await makeTestPki();
});
after(() => dirs.forEach(removeDir));

async function serve(env: Record<string, string>): Promise<{ node: Spawned; api: string; edge: string; call: (method: string, p: string, body?: unknown) => Promise<any>; stop: () => Promise<void> }> {
  const node = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_EDGE_WORKERS: '1', EDGECERT_LOG_LEVEL: 'warn', ...env });
  const api = (await node.waitFor(/API listening on (\S+)\/client\/v4/))[1]!;
  const edge = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
  const call = (method: string, p: string, body?: unknown) =>
    fetch(`${api}/client/v4${p}`, { method, headers: { authorization: `Bearer ${env.EDGECERT_BOOTSTRAP_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
  return {
    node,
    api,
    edge,
    call,
    stop: async () => {
      node.child.kill('SIGTERM');
      await node.exited;
    },
  };
}

async function bundle(hostname: string) {
  const pairs = await Promise.all((['rsa', 'ecdsa'] as const).map((keyType) => pki.leaf({ hosts: [hostname], keyType })));
  return pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem }));
}

async function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const p = runEdgecert(args, env);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

test('SQLite: a backup taken under a write load restores into an empty directory and serves the same hostnames and keys', { skip: onPostgres() && 'SQLite only' }, async () => {
  const dataDir = tempDir();
  const trust = path.join(tempDir(), 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const token = newBootstrapToken();
  const env = { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: token, EDGECERT_TRUST_CA_FILE: trust };
  const a = await serve(env);
  const accountId = (await a.call('GET', '/accounts')).result[0].id;
  const zone = (await a.call('POST', '/zones', { name: 'backup.test', account: { id: accountId } })).result.id;
  const first = (await a.call('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'first.backup.test', ssl: { custom_cert_bundle: await bundle('first.backup.test') } })).result;
  const served = await handshake(a.edge, { servername: 'first.backup.test', ca: pki.trustPem });
  assert.ok(served.ok);

  // Creates keep coming while the backup runs.
  const bundles = await Promise.all(Array.from({ length: 4 }, (_, i) => bundle(`*.load${i}.backup.test`)));
  let writing = true;
  let created = 0;
  const load = (async () => {
    for (let i = 0; writing; i++) {
      const r = await a.call('POST', `/zones/${zone}/custom_hostnames`, { hostname: `h${i}.load${i % 4}.backup.test`, ssl: { custom_cert_bundle: bundles[i % 4] } });
      if (r.success) created++;
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const file = path.join(tempDir(), 'edgecert.backup');
  const backup = await runCli(['backup', file], env);
  writing = false;
  await load;
  await a.stop();
  assert.equal(backup.code, 0, backup.err);
  assert.match(backup.out, /backed up \d+ custom hostnames/);
  assert.ok(created > 0, 'the load wrote while the backup ran');

  // No key, no restore: the copy is removed and the directory stays empty.
  const restoreDir = tempDir();
  const refused = await runCli(['restore', file], { EDGECERT_DATA_DIR: restoreDir });
  assert.equal(refused.code, 2, refused.err);
  assert.match(refused.err, /master key/);
  assert.equal(existsSync(path.join(restoreDir, 'edgecert.db')), false);

  const masterKey = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
  const restored = await runCli(['restore', file], { EDGECERT_DATA_DIR: restoreDir, EDGECERT_MASTER_KEY: masterKey });
  assert.equal(restored.code, 0, restored.err);
  const again = await runCli(['restore', file], { EDGECERT_DATA_DIR: restoreDir, EDGECERT_MASTER_KEY: masterKey });
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists: restore into an empty data directory/);

  const b = await serve({ ...env, EDGECERT_DATA_DIR: restoreDir, EDGECERT_MASTER_KEY: masterKey });
  try {
    const list = await b.call('GET', `/zones/${zone}/custom_hostnames?per_page=1000`);
    // A consistent snapshot: every hostname it holds has its whole pack.
    assert.ok(list.result.length >= 1 && list.result.length <= created + 1);
    for (const h of list.result) assert.equal(h.ssl.certificates.length, 2, `${h.hostname}: whole pack`);
    const same = list.result.find((h: any) => h.id === first.id);
    assert.deepEqual(same.ssl.certificates.map((c: any) => c.fingerprint_sha256).sort(), first.ssl.certificates.map((c: any) => c.fingerprint_sha256).sort());
    // The restored keys work: the same certificate is served.
    const h = await handshake(b.edge, { servername: 'first.backup.test', ca: pki.trustPem });
    assert.ok(h.ok, h.error);
    assert.equal(h.fingerprint256, served.fingerprint256);
  } finally {
    await b.stop();
  }
});

test('PostgreSQL: pg_dump / pg_restore into a new database, served with the same master key', { skip: !onPostgres() && 'PostgreSQL only' }, async () => {
  const dataDir = tempDir();
  const trust = path.join(tempDir(), 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const token = newBootstrapToken();
  const source = await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!);
  const env = { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: token, EDGECERT_TRUST_CA_FILE: trust, EDGECERT_DATABASE_URL: source };
  const a = await serve(env);
  const accountId = (await a.call('GET', '/accounts')).result[0].id;
  const zone = (await a.call('POST', '/zones', { name: 'pgbackup.test', account: { id: accountId } })).result.id;
  await a.call('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'pg.pgbackup.test', ssl: { custom_cert_bundle: await bundle('pg.pgbackup.test') } });
  const served = await handshake(a.edge, { servername: 'pg.pgbackup.test', ca: pki.trustPem });
  // edgecert backup is SQLite's: on PostgreSQL it says what to use instead.
  const cli = await runCli(['backup', path.join(dataDir, 'x')], env);
  assert.equal(cli.code, 2);
  assert.match(cli.err, /pg_dump/);

  const dump = path.join(tempDir(), 'edgecert.dump');
  execFileSync('pg_dump', ['--format=custom', `--file=${dump}`, source]);
  await a.stop();
  const target = await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!);
  execFileSync('pg_restore', ['--no-owner', `--dbname=${target}`, dump]);
  const masterKey = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
  const b = await serve({ ...env, EDGECERT_DATA_DIR: tempDir(), EDGECERT_DATABASE_URL: target, EDGECERT_MASTER_KEY: masterKey });
  try {
    const h = await handshake(b.edge, { servername: 'pg.pgbackup.test', ca: pki.trustPem });
    assert.ok(h.ok, h.error);
    assert.equal(h.fingerprint256, served.fingerprint256);
  } finally {
    await b.stop();
  }
});
