import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, newBootstrapToken, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { runEdgecert } from '../helpers/process.js';
import { handshake, request } from '../helpers/tls.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * GET /metrics through the front door: real handshakes and API calls, then the scrape, read as
 * Prometheus reads it. Counters are compared before and after, so other activity cannot pass a check.
 */
const ECDSA_ONLY = 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384';
const RSA_ONLY = 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256';
let s: TestServer;
let pki: TestPki;
let zoneId: string;

type Samples = Map<string, number>;
/** `name{a="x",b="y"} value` lines → key `name{a="x",b="y"}` (labels as printed, sorted by prom-client) → value. */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
const key = (name: string, labels: Record<string, string>) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

async function scrape(url: string): Promise<{ samples: Samples; text: string }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  return { samples: parse(text), text };
}
const delta = (a: Samples, b: Samples, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);

async function hostnameWithPack(hostname: string, opts: { notAfter?: Date; ssl?: Record<string, unknown> } = {}) {
  const pairs = await Promise.all((['rsa', 'ecdsa'] as const).map((keyType) => pki.leaf({ hosts: [hostname], keyType, notAfter: opts.notAfter })));
  const res = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, {
    hostname,
    ssl: { ...opts.ssl, custom_cert_bundle: pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.result;
}

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem, env: { EDGECERT_EDGE_WORKERS: '1' } });
  zoneId = (await s.api('POST', '/zones', { name: 'metrics.test', account: { id: s.accountId } })).body.result.id;
});
after(() => s?.close());

test('handshakes by result, key type and version; TLS cache; origin errors; API requests by route', async () => {
  const edge = s.running.edgeAddress!;
  const shop = await hostnameWithPack('shop.metrics.test');
  await hostnameWithPack('strict.metrics.test', { ssl: { settings: { min_tls_version: '1.3' } } });
  const before = (await scrape(s.url)).samples;

  // Requests, not bare handshakes: a TLS 1.3 server completes its handshake only when the client's
  // Finished arrives, which a client that hangs up at once may never send.
  const get = (sigalgs: string, maxVersion?: 'TLSv1.2') => request(edge, { servername: 'shop.metrics.test', ca: pki.trustPem, sigalgs, maxVersion, path: '/' });
  // No origin is configured for it: 502, each counted as an origin error.
  for (const res of [await get(ECDSA_ONLY), await get(ECDSA_ONLY), await get(RSA_ONLY, 'TLSv1.2')]) assert.equal(res.status, 502);
  assert.equal((await handshake(edge, { servername: 'nobody.metrics.test', ca: pki.trustPem })).ok, false);
  assert.equal((await handshake(edge, { servername: 'strict.metrics.test', ca: pki.trustPem, maxVersion: 'TLSv1.2' })).ok, false);
  await s.api('GET', `/zones/${zoneId}/custom_hostnames/${shop.id}`);
  await s.api('GET', `/zones/${zoneId}/custom_hostnames/00000000-0000-4000-8000-000000000000`);

  const after = (await scrape(s.url)).samples;
  const hs = (result: string, keyType = '', version = '') => delta(before, after, key('edgecert_edge_handshakes_total', { result, key_type: keyType, tls_version: version }));
  assert.equal(hs('ok', 'ecdsa', 'TLSv1.3'), 2);
  assert.equal(hs('ok', 'rsa', 'TLSv1.2'), 1, 'the RSA-only TLS 1.2 client got RSA');
  assert.equal(hs('unknown_sni'), 1);
  assert.equal(hs('version_refused'), 1);
  assert.equal(delta(before, after, key('edgecert_origin_errors_total', { kind: 'no_origin' })), 3);
  // The first handshake of a hostname builds its TLS configuration, later ones hit the cache.
  assert.ok(delta(before, after, key('edgecert_tls_context_cache_total', { event: 'hit' })) >= 2);
  const route = '/client/v4/zones/:zone_id/custom_hostnames/:custom_hostname_id';
  assert.equal(delta(before, after, key('edgecert_api_request_duration_seconds_count', { route, method: 'GET', status: '200' })), 1);
  assert.equal(delta(before, after, key('edgecert_api_request_duration_seconds_count', { route, method: 'GET', status: '404' })), 1);
  assert.ok(after.get(key('edgecert_api_request_duration_seconds_bucket', { le: '+Inf', route, method: 'GET', status: '200' }))! >= 1);
});

test('certificate expiry per certificate and per mTLS CA, counts by days left, change feed position; no private data', async () => {
  const soon = await hostnameWithPack('soon.metrics.test', { notAfter: new Date(Date.now() + 5 * 86_400_000) });
  const caLeaf = await pki.leaf({ hosts: ['client-ca.metrics.test'], keyType: 'ecdsa', ca: true });
  const ca = await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { name: 'partners', ca: true, certificates: caLeaf.certPem });
  assert.equal(ca.status, 200, JSON.stringify(ca.body));
  const { samples, text } = await scrape(s.url);
  for (const c of soon.ssl.certificates) {
    const k = key('edgecert_certificate_expiry_timestamp_seconds', { kind: 'custom_hostname', zone: 'metrics.test', hostname: 'soon.metrics.test', key_type: c.key_type, certificate_id: c.id });
    assert.equal(samples.get(k), Date.parse(c.expires_on) / 1000, k);
  }
  const caKey = key('edgecert_certificate_expiry_timestamp_seconds', { kind: 'mtls_ca', zone: '', hostname: 'partners', key_type: '', certificate_id: ca.body.result.id });
  assert.equal(samples.get(caKey), Date.parse(ca.body.result.expires_on) / 1000);
  // Two certificates expire within 5 days here (every other one in a year or more).
  assert.equal(samples.get(key('edgecert_certificates_expiring', { within_days: '7' })), 2);
  assert.equal(samples.get(key('edgecert_certificates_expiring', { within_days: '30' })), 2);
  const head = samples.get('edgecert_change_feed_head_sequence')!;
  assert.ok(head > 0);
  assert.ok(samples.get('edgecert_change_feed_applied_sequence')! <= head);
  assert.ok(samples.has('edgecert_change_feed_lag_seconds'));
  assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE|custom_key/);
});

test('with edge workers, one scrape of the API counts the handshakes of every worker', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-metrics-'));
  const trust = path.join(dataDir, 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const token = newBootstrapToken();
  const node = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dataDir,
    EDGECERT_BOOTSTRAP_TOKEN: token,
    EDGECERT_TRUST_CA_FILE: trust,
    EDGECERT_EDGE_WORKERS: '2',
    EDGECERT_LOG_LEVEL: 'warn',
  });
  try {
    const api = (await node.waitFor(/API listening on (\S+)\/client\/v4/))[1]!;
    const edge = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
    const call = (method: string, p: string, body?: unknown) =>
      fetch(`${api}/client/v4${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
    const accountId = (await call('GET', '/accounts')).result[0].id;
    const zone = (await call('POST', '/zones', { name: 'workers.test', account: { id: accountId } })).result.id;
    const leaf = await pki.leaf({ hosts: ['w.workers.test'], keyType: 'ecdsa' });
    await call('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'w.workers.test', ssl: { custom_cert_bundle: [{ custom_certificate: leaf.chainPem, custom_key: leaf.keyPem }] } });
    const okKey = key('edgecert_edge_handshakes_total', { result: 'ok', key_type: 'ecdsa', tls_version: 'TLSv1.3' });
    const before = (await scrape(api)).samples.get(okKey) ?? 0;
    let done = 0;
    for (let i = 0; i < 40; i++) if ((await request(edge, { servername: 'w.workers.test', ca: pki.trustPem })).status === 502) done++;
    assert.equal(done, 40);
    const { samples, text } = await scrape(api);
    assert.equal(samples.get(okKey)! - before, 40, 'the sum over both workers');
    // One family per name: the workers' series are merged, not listed twice.
    assert.equal(text.split('\n').filter((l) => l === '# TYPE edgecert_edge_handshakes_total counter').length, 1);
  } finally {
    node.child.kill('SIGTERM');
    await node.exited;
    removeDir(dataDir);
  }
});

test('an edge-only node with workers: EDGECERT_METRICS_LISTEN serves the same aggregated scrape', async () => {
  const { freePort } = await import('../helpers/postgres.js');
  const port = await freePort();
  const leaf = await pki.leaf({ hosts: ['edge-only.metrics.test'], keyType: 'ecdsa' });
  await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'edge-only.metrics.test', ssl: { custom_cert_bundle: [{ custom_certificate: leaf.chainPem, custom_key: leaf.keyPem }] } });
  const trust = path.join(s.dataDir, 'metrics-trust.pem');
  writeFileSync(trust, pki.trustPem);
  const node = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: s.dataDir,
    EDGECERT_DATABASE_URL: s.databaseUrl,
    EDGECERT_TRUST_CA_FILE: trust,
    EDGECERT_EDGE_WORKERS: '2',
    EDGECERT_METRICS_LISTEN: `127.0.0.1:${port}`,
    EDGECERT_LOG_LEVEL: 'warn',
  });
  try {
    const edge = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
    assert.match(node.stdout(), new RegExp(`metrics listening on http://127.0.0.1:${port}/metrics`));
    for (let i = 0; i < 10; i++) assert.equal((await request(edge, { servername: 'edge-only.metrics.test', ca: pki.trustPem })).status, 502);
    const { samples } = await scrape(`http://127.0.0.1:${port}`);
    assert.equal(samples.get(key('edgecert_edge_handshakes_total', { result: 'ok', key_type: 'ecdsa', tls_version: 'TLSv1.3' })), 10);
    assert.equal((await fetch(`http://127.0.0.1:${port}/client/v4/zones`)).status, 404, 'nothing but /metrics');
  } finally {
    node.child.kill('SIGTERM');
    await node.exited;
  }
});

test('the key type counted is the one the client was served, for every kind of client', async () => {
  const edge = s.running.edgeAddress!;
  await hostnameWithPack('both.metrics.test');
  const clients: Array<[string, { sigalgs?: string; maxVersion?: 'TLSv1.2' }]> = [
    ['default TLS 1.3 client', {}],
    ['ECDSA-only TLS 1.3', { sigalgs: ECDSA_ONLY }],
    ['RSA-only TLS 1.3', { sigalgs: 'rsa_pss_rsae_sha256:rsa_pss_rsae_sha384' }],
    ['RSA-only TLS 1.2', { sigalgs: RSA_ONLY, maxVersion: 'TLSv1.2' }],
    ['default TLS 1.2 client', { maxVersion: 'TLSv1.2' }],
  ];
  for (const [what, opts] of clients) {
    const seen = await handshake(edge, { servername: 'both.metrics.test', ca: pki.trustPem, ...opts });
    assert.ok(seen.ok, `${what}: ${seen.error}`);
    const served = seen.key === 'P-256' ? 'ecdsa' : 'rsa';
    const other = served === 'ecdsa' ? 'rsa' : 'ecdsa';
    const version = opts.maxVersion ?? 'TLSv1.3';
    const before = (await scrape(s.url)).samples;
    assert.equal((await request(edge, { servername: 'both.metrics.test', ca: pki.trustPem, ...opts })).status, 502);
    const after = (await scrape(s.url)).samples;
    const ok = (keyType: string) => delta(before, after, key('edgecert_edge_handshakes_total', { result: 'ok', key_type: keyType, tls_version: version }));
    assert.ok(ok(served) >= 1, `${what}: served ${served}, counted as such`); // the bare handshake above may land too
    assert.equal(ok(other), 0, `${what}: not counted as ${other}`);
  }
});
