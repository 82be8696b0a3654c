import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { runEdgecert } from '../helpers/process.js';
import { eventually } from '../helpers/eventually.js';
import { handshake } from '../helpers/tls.js';

/**
 * `edgecert import --zone Z FILE`: NDJSON of POST bodies, checked as the API checks them
 * (refusals with the API's own codes and words, by line), written in batches, served by the
 * edge, and resumable (a second run skips what is there).
 */
let s: TestServer;
let pki: TestPki;
let zoneId: string;

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'import-saas.com', account: { id: s.accountId } })).id;
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

test('imports valid entries, refuses bad ones with the API’s errors by line, skips what exists on a second run', async () => {
  const [rsa, ecdsa] = [await pki.leaf({ hosts: ['*.import.test'], keyType: 'rsa' }), await pki.leaf({ hosts: ['*.import.test'], keyType: 'ecdsa' })];
  const bundle = [rsa, ecdsa].map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem }));
  const N = 60;
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(JSON.stringify({ hostname: `i${i}.import.test`, ssl: { custom_cert_bundle: bundle }, custom_metadata: { customer: `c${i}` } }));
  const bad = [
    { hostname: 'bad-cert.import.test', ssl: { custom_certificate: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', custom_key: ecdsa.keyPem } },
    { hostname: 'wrong-name.other.test', ssl: { custom_certificate: ecdsa.chainPem, custom_key: ecdsa.keyPem } },
    { ssl: {} },
  ];
  lines.splice(10, 0, JSON.stringify(bad[0])); // line 11
  lines.splice(20, 0, '{"hostname": "broken.import.test",'); // line 21: not JSON
  lines.splice(30, 0, JSON.stringify(bad[1])); // line 31
  lines.splice(40, 0, JSON.stringify(bad[2])); // line 41
  lines.push(lines[0]!); // the first entry again: already there once written
  const file = path.join(s.dataDir, 'hostnames.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  const env: Record<string, string> = {
    EDGECERT_DATA_DIR: s.dataDir,
    EDGECERT_TRUST_CA_FILE: path.join(s.dataDir, 'test-trust.pem'),
    ...(s.running.ctx.store.dialect === 'postgres' ? { EDGECERT_DATABASE_URL: s.databaseUrl } : {}),
  };

  const run = runEdgecert(['import', '--zone', zoneId, file], env);
  assert.equal(await run.exited, 1, `refusals make the exit status 1\n${run.stderr()}`);
  const refusals = run.stdout().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(refusals.map((r) => r.line).sort((a, b) => a - b), [11, 21, 31, 41]);
  // Each refusal is what the API answers for the same body.
  for (const [line, body] of [[11, bad[0]], [31, bad[1]], [41, bad[2]]] as const) {
    const api = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, body);
    assert.equal(api.status, 400);
    assert.deepEqual(refusals.find((r) => r.line === line).errors, api.body.errors.map((e: any) => ({ code: e.code, message: e.message })), `line ${line}`);
  }
  assert.equal(refusals.find((r) => r.line === 21).errors[0].code, 1400);
  assert.match(run.stderr(), new RegExp(`${N} created, 1 already there \\(skipped\\), 4 refused`));

  const listed = await s.api('GET', `/zones/${zoneId}/custom_hostnames?per_page=5`);
  assert.equal(listed.body.result_info.total_count, N);
  const one = (await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=i7.import.test`)).body.result[0];
  assert.deepEqual(one.ssl.certificates.map((c: any) => c.key_type).sort(), ['ecdsa', 'rsa']);
  assert.deepEqual(one.custom_metadata, { customer: 'c7' });
  // The edge serves an imported hostname (it follows the change feed like any other change).
  const hs = await eventually(() => handshake(s.running.edgeAddress!, { servername: 'i42.import.test', ca: pki.trustPem }), (h) => h.ok, 'imported hostname served');
  assert.equal(hs.authorized, true);

  // Resumable: the same file again creates nothing and refuses the same lines.
  const again = runEdgecert(['import', '--zone', zoneId, file], env);
  assert.equal(await again.exited, 1);
  assert.match(again.stderr(), new RegExp(`0 created, ${N + 1} already there \\(skipped\\), 4 refused`));
  assert.equal((await s.api('GET', `/zones/${zoneId}/custom_hostnames?per_page=5`)).body.result_info.total_count, N);
});

test('an unknown zone or a missing file is an error naming it, with nothing written', async () => {
  const env = { EDGECERT_DATA_DIR: s.dataDir, ...(s.running.ctx.store.dialect === 'postgres' ? { EDGECERT_DATABASE_URL: s.databaseUrl } : {}) };
  const file = path.join(s.dataDir, 'one.ndjson');
  writeFileSync(file, JSON.stringify({ hostname: 'x.import.test' }) + '\n');
  const noZone = runEdgecert(['import', '--zone', '0'.repeat(32), file], env);
  assert.equal(await noZone.exited, 1);
  assert.match(noZone.stderr(), /zone 0{32} was not found/);
  const noFile = runEdgecert(['import', '--zone', zoneId, path.join(s.dataDir, 'missing.ndjson')], env);
  assert.equal(await noFile.exited, 1);
  assert.match(noFile.stderr(), /missing\.ndjson/);
  assert.equal((await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=x.import.test`)).body.result.length, 0);
});

test('a directory per hostname: certificate and key files, optional hostname.json; bad entries refused by name', async () => {
  const { mkdirSync } = await import('node:fs');
  const root = path.join(s.dataDir, 'to-import');
  const [rsa, ecdsa] = [await pki.leaf({ hosts: ['d1.import.test'], keyType: 'rsa' }), await pki.leaf({ hosts: ['d1.import.test'], keyType: 'ecdsa' })];
  const put = (dir: string, files: Record<string, string>) => {
    mkdirSync(path.join(root, dir), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, dir, name), text);
  };
  put('d1.import.test', { 'rsa.crt': rsa.chainPem, 'rsa.key': rsa.keyPem, 'ecdsa.pem': ecdsa.chainPem, 'ecdsa.key': ecdsa.keyPem, 'hostname.json': JSON.stringify({ custom_metadata: { from: 'dir' } }) });
  put('d2.import.test', { 'only.crt': ecdsa.chainPem });
  put('d3.import.test', { 'hostname.json': '{ not json' });
  const env: Record<string, string> = {
    EDGECERT_DATA_DIR: s.dataDir,
    EDGECERT_TRUST_CA_FILE: path.join(s.dataDir, 'test-trust.pem'),
    ...(s.running.ctx.store.dialect === 'postgres' ? { EDGECERT_DATABASE_URL: s.databaseUrl } : {}),
  };
  const run = runEdgecert(['import', '--zone', zoneId, root], env);
  assert.equal(await run.exited, 1, run.stderr());
  const refusals = run.stdout().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(refusals.map((r) => r.entry).sort(), ['d2.import.test', 'd3.import.test']);
  assert.equal(refusals.find((r) => r.entry === 'd2.import.test').errors[0].code, 1428);
  assert.match(refusals.find((r) => r.entry === 'd3.import.test').errors[0].message, /d3\.import\.test/);
  assert.match(run.stderr(), /1 created, 0 already there \(skipped\), 2 refused/);
  const d1 = (await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=d1.import.test`)).body.result[0];
  assert.deepEqual(d1.ssl.certificates.map((c: any) => c.key_type).sort(), ['ecdsa', 'rsa']);
  assert.deepEqual(d1.custom_metadata, { from: 'dir' });
});

test('hostile lines: deep nesting, wrong JSON types, a line over the body limit — each refused as the API refuses that body, the rest imported', async () => {
  const leaf = await pki.leaf({ hosts: ['ok.hostile-import.test'], keyType: 'ecdsa' });
  const deep = `{"hostname":"deep.hostile-import.test","custom_metadata":${'{"a":'.repeat(100_000)}"x"${'}'.repeat(100_000)}}`;
  const bodies: string[] = [
    deep,
    JSON.stringify({ hostname: 'types.hostile-import.test', custom_origin_server: 5 }),
    JSON.stringify({ hostname: 'ssl.hostile-import.test', ssl: { custom_cert_bundle: 'not a list' } }),
    '[]',
    '"a string"',
    JSON.stringify({ hostname: 'big.hostile-import.test', custom_metadata: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
  ];
  const lines = [...bodies, JSON.stringify({ hostname: 'ok.hostile-import.test', ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } })];
  const file = path.join(s.dataDir, 'hostile.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  const env: Record<string, string> = {
    EDGECERT_DATA_DIR: s.dataDir,
    EDGECERT_TRUST_CA_FILE: path.join(s.dataDir, 'test-trust.pem'),
    ...(s.running.ctx.store.dialect === 'postgres' ? { EDGECERT_DATABASE_URL: s.databaseUrl } : {}),
  };
  const run = runEdgecert(['import', '--zone', zoneId, file], env);
  assert.equal(await run.exited, 1, run.stderr());
  assert.match(run.stderr(), /1 created, 0 already there \(skipped\), 6 refused/);
  const refusals = new Map(run.stdout().trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.line, r.errors]));
  for (const [i, text] of bodies.entries()) {
    const res = await fetch(`${s.baseURL}/zones/${zoneId}/custom_hostnames`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: text });
    const api = (await res.json()) as { errors: Array<{ code: number; message: string }> };
    assert.ok(res.status >= 400 && res.status < 500, `line ${i + 1}: the API refuses it (${res.status})`);
    assert.deepEqual(refusals.get(i + 1), api.errors.map(({ code, message }) => ({ code, message })), `line ${i + 1}`);
  }
  assert.equal((await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=ok.hostile-import.test`)).body.result.length, 1);
});
