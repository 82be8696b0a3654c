import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newBootstrapToken, onPostgres, removeDir } from '../helpers/server.js';
import { createDatabase } from '../helpers/postgres.js';
import { runEdgecert, type Spawned } from '../helpers/process.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { handshake } from '../helpers/tls.js';
import { openStore } from '../../src/storage/connect.js';
import { keyIdOf } from '../../src/storage/crypto.js';
import { SEALED_COLUMNS } from '../../src/storage/rotation.js';

/**
 * Master-key rotation as an operator runs it, beside a running server taking writes: interrupted
 * and run again, then the server restarted with only the new key serves every hostname.
 */
let pki: TestPki;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'edgecert-rotate-'));
  dirs.push(d);
  return d;
};
before(async () => {
  pki = await makeTestPki();
});
after(() => dirs.forEach(removeDir));

async function serve(env: Record<string, string>) {
  const node = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_EDGE_WORKERS: '1', EDGECERT_LOG_LEVEL: 'warn', ...env });
  const api = (await node.waitFor(/API listening on (\S+)\/client\/v4/))[1]!;
  const edge = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
  const call = (method: string, p: string, body?: unknown) =>
    fetch(`${api}/client/v4${p}`, { method, headers: { authorization: `Bearer ${env.EDGECERT_BOOTSTRAP_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
  return { node, edge, call, stop: async () => (node.child.kill('SIGTERM'), await node.exited) };
}

async function bundle(hostname: string) {
  const pairs = await Promise.all((['rsa', 'ecdsa'] as const).map((keyType) => pki.leaf({ hosts: [hostname], keyType })));
  return pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem }));
}

/** key_id → rows, over every sealed column. */
async function keyIdsInUse(databaseUrl: string): Promise<Map<string, number>> {
  const store = await openStore(databaseUrl);
  try {
    const used = new Map<string, number>();
    for (const { table } of SEALED_COLUMNS) {
      const rows = (await (store.db as any).selectFrom(table).select('key_id').where('key_ciphertext', 'is not', null).execute()) as Array<{ key_id: string }>;
      for (const r of rows) used.set(r.key_id, (used.get(r.key_id) ?? 0) + 1);
    }
    return used;
  } finally {
    await store.close();
  }
}

/** Runs the command; with `stopAfter`, kills it once that many progress lines are out (an interruption). */
async function rotate(env: Record<string, string>, stopAfter?: number): Promise<{ code: number | null; out: string; err: string }> {
  const p: Spawned = runEdgecert(['rotate-master-key', '--batch', '3'], env);
  if (stopAfter !== undefined) {
    await p.waitFor(new RegExp(`(sealed again .*\\n[^]*){${stopAfter}}`), 60_000);
    p.child.kill('SIGKILL');
  }
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

async function populate(call: (m: string, p: string, b?: unknown) => Promise<any>, n: number) {
  const accountId = (await call('GET', '/accounts')).result[0].id;
  const zone = (await call('POST', '/zones', { name: 'rotate.test', account: { id: accountId } })).result.id;
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const hostname = `h${i}.rotate.test`;
    const r = await call('POST', `/zones/${zone}/custom_hostnames`, { hostname, ssl: { custom_cert_bundle: await bundle(hostname) } });
    assert.ok(r.success, JSON.stringify(r.errors));
    names.push(hostname);
  }
  return { zone, names };
}

test('every sealed column of the schema is re-sealed by rotation', async () => {
  const store = await openStore(`sqlite:${path.join(tempDir(), 'schema.db')}`);
  try {
    await store.migrate();
    const tables = (await (store.db as any).selectFrom('sqlite_master').select(['name', 'sql']).where('type', '=', 'table').execute()) as Array<{ name: string; sql: string }>;
    const sealed = tables.filter((t) => /\bkey_ciphertext\b/.test(t.sql)).map((t) => t.name).sort();
    assert.deepEqual(sealed, SEALED_COLUMNS.map((c) => c.table as string).sort());
  } finally {
    await store.close();
  }
});

test('SQLite, key in the data directory: rotation under a write load, interrupted and resumed; a restart with only the new key serves everything', { skip: onPostgres() && 'SQLite only' }, async () => {
  const dataDir = tempDir();
  const trust = path.join(tempDir(), 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const env = { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: newBootstrapToken(), EDGECERT_TRUST_CA_FILE: trust };
  const databaseUrl = `sqlite:${path.join(dataDir, 'edgecert.db')}`;
  const a = await serve(env);
  const { zone, names } = await populate(a.call, 12);
  assert.ok((await handshake(a.edge, { servername: names[0]!, ca: pki.trustPem })).ok);
  const oldKeyId = keyIdOf(Buffer.from(readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim(), 'base64'));

  let writing = true;
  const bundles = await Promise.all([0, 1].map((i) => bundle(`*.load${i}.rotate.test`)));
  const created: string[] = [];
  const load = (async () => {
    for (let i = 0; writing; i++) {
      const hostname = `x${i}.load${i % 2}.rotate.test`;
      const r = await a.call('POST', `/zones/${zone}/custom_hostnames`, { hostname, ssl: { custom_cert_bundle: bundles[i % 2] } });
      if (r.success) created.push(hostname);
    }
  })();
  try {
    const interrupted = await rotate(env, 2);
    assert.notEqual(interrupted.code, 0, 'killed mid-way');
    assert.ok(existsSync(path.join(dataDir, 'master.key.previous')), 'the old key stays while rows use it');
    // Mid-rotation the running server opens rows of both keys: a hostname re-sealed already is served.
    assert.ok((await handshake(a.edge, { servername: names[0]!, ca: pki.trustPem })).ok);
    const resumed = await rotate(env);
    assert.equal(resumed.code, 0, resumed.err + resumed.out);
    assert.match(resumed.out, /carrying on with the rotation begun earlier/);
    assert.match(resumed.out, /done: \d+ private keys sealed again/);
  } finally {
    writing = false;
    await load;
  }
  assert.ok(created.length > 0, 'the load wrote during the rotation');
  assert.equal(existsSync(path.join(dataDir, 'master.key.previous')), false, 'the old key is gone once nothing uses it');
  // Rows written by the running server during the rotation are under the new key too.
  await a.stop();
  const used = await keyIdsInUse(databaseUrl);
  assert.equal(used.has(oldKeyId), false, `no row under the old key: ${JSON.stringify([...used])}`);
  assert.equal(used.size, 1);

  const b = await serve(env);
  try {
    for (const hostname of [...names, ...created.slice(-3)]) {
      const h = await handshake(b.edge, { servername: hostname, ca: pki.trustPem });
      assert.ok(h.ok, `${hostname}: ${h.error}`);
    }
  } finally {
    await b.stop();
  }
});

test('PostgreSQL, key in EDGECERT_MASTER_KEY: new key plus EDGECERT_MASTER_KEY_PREVIOUS, rotate, then the new key alone', { skip: !onPostgres() && 'PostgreSQL only' }, async () => {
  const trust = path.join(tempDir(), 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const oldKey = randomBytes(32).toString('base64');
  const databaseUrl = await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!);
  const base = { EDGECERT_DATA_DIR: tempDir(), EDGECERT_BOOTSTRAP_TOKEN: newBootstrapToken(), EDGECERT_TRUST_CA_FILE: trust, EDGECERT_DATABASE_URL: databaseUrl };
  const a = await serve({ ...base, EDGECERT_MASTER_KEY: oldKey });
  const { names } = await populate(a.call, 6);
  await a.stop();

  const refused = await rotate({ ...base, EDGECERT_MASTER_KEY: oldKey });
  assert.equal(refused.code, 2);
  assert.match(refused.err, /EDGECERT_MASTER_KEY_PREVIOUS/);

  const newKey = (await (async () => {
    const p = runEdgecert(['rotate-master-key', '--generate'], {});
    await p.exited;
    return p.stdout().trim();
  })());
  assert.equal(Buffer.from(newKey, 'base64').length, 32);
  const both = { ...base, EDGECERT_MASTER_KEY: newKey, EDGECERT_MASTER_KEY_PREVIOUS: oldKey };
  const b = await serve(both);
  try {
    assert.ok((await handshake(b.edge, { servername: names[0]!, ca: pki.trustPem })).ok, 'old rows open with the previous key');
    const done = await rotate(both);
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, /remove EDGECERT_MASTER_KEY_PREVIOUS/);
  } finally {
    await b.stop();
  }
  assert.deepEqual([...(await keyIdsInUse(databaseUrl)).keys()], [keyIdOf(Buffer.from(newKey, 'base64'))]);
  const c = await serve({ ...base, EDGECERT_MASTER_KEY: newKey });
  try {
    for (const hostname of names) assert.ok((await handshake(c.edge, { servername: hostname, ca: pki.trustPem })).ok, hostname);
  } finally {
    await c.stop();
  }
  // The old key alone no longer opens this database.
  const stale = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { ...base, EDGECERT_MASTER_KEY: oldKey, EDGECERT_EDGE_WORKERS: '1' });
  assert.equal(await stale.exited, 2);
  assert.match(stale.stderr(), /is not the master key/);
});
