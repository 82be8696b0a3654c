import 'reflect-metadata';
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { createHash, createPrivateKey, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeLeaf, makeRoot, makeTestPki, type Issuer, type Leaf, type TestPki } from '../helpers/pki.js';
import { eventually } from '../helpers/eventually.js';
import { handshake, opensslClient, request, startEchoOrigin, splitAddress } from '../helpers/tls.js';

/**
 * The TLS edge with real clients (node:tls, https, http2, openssl s_client) on loopback, and a
 * real origin. Changes go through the API and must show up at the edge without a restart.
 */
let s: TestServer;
let pki: TestPki;
let origin: Awaited<ReturnType<typeof startEchoOrigin>>;
let zoneId: string;
let edge: string;
let ca: string;
const ECDSA_ONLY = 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384';
const RSA_ONLY = 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256';

const leaves: Record<string, Leaf> = {};
async function leafFor(host: string, keyType: 'rsa' | 'ecdsa'): Promise<Leaf> {
  const key = `${host}/${keyType}`;
  leaves[key] ??= await pki.leaf({ hosts: [host], keyType });
  return leaves[key]!;
}

async function createHostname(hostname: string, opts: { ssl?: Record<string, unknown>; pairs?: Array<'rsa' | 'ecdsa'>; [k: string]: unknown } = {}) {
  const certHost = hostname;
  const pairs = await Promise.all((opts.pairs ?? ['rsa', 'ecdsa']).map((t) => leafFor(certHost, t)));
  const { pairs: _p, ssl, ...rest } = opts;
  const res = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, {
    hostname,
    ...rest,
    ssl: { ...ssl, custom_cert_bundle: pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.result;
}


before(async () => {
  pki = await makeTestPki();
  origin = await startEchoOrigin();
  s = await startTestServer({ trustPem: pki.trustPem, env: { EDGECERT_ORIGIN_SCHEME: 'http', EDGECERT_ORIGIN_PORT: String(origin.port) } });
  zoneId = (await s.client.zones.create({ name: 'edge-saas.com', account: { id: s.accountId } })).id;
  await s.api('PUT', `/zones/${zoneId}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
  edge = s.running.edgeAddress!;
  ca = pki.trustPem;
});
after(async () => {
  await s.close();
  await origin.close();
  removeDir(s.dataDir);
});

describe('certificates by SNI', () => {
  before(async () => {
    await createHostname('pack.customer.com');
    await createHostname('*.wild.customer.com', { pairs: ['ecdsa'] });
    await s.running.edge!.sync.settle();
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`${version}: ECDSA to clients that offer ECDSA, RSA to the rest, chain included`, async () => {
      const ec = await handshake(edge, { servername: 'pack.customer.com', ca, sigalgs: ECDSA_ONLY, minVersion: version, maxVersion: version });
      assert.ok(ec.ok, ec.error);
      assert.equal(ec.protocol, version);
      assert.equal(ec.key, 'P-256');
      assert.equal(ec.authorized, true, 'the intermediate was sent: the client trusts only the root');
      assert.deepEqual(ec.chainSubjects!.slice(0, 3), ['pack.customer.com', 'edgecert Test Intermediate', 'edgecert Test Root']);
      const rsa = await handshake(edge, { servername: 'pack.customer.com', ca, sigalgs: RSA_ONLY, minVersion: version, maxVersion: version });
      assert.ok(rsa.ok, rsa.error);
      assert.equal(rsa.key, 'RSA 2048');
      assert.equal(rsa.authorized, true);
    });
  }

  test('SNI is case-insensitive; unknown or missing SNI closes without a certificate', async () => {
    assert.ok((await handshake(edge, { servername: 'PACK.Customer.COM', ca })).ok);
    const unknown = await handshake(edge, { servername: 'nobody.example.org', ca });
    assert.equal(unknown.ok, false);
    assert.equal(unknown.key, undefined);
    const none = await handshake(edge, { ca }); // an IP address host: Node sends no SNI
    assert.equal(none.ok, false);
    const out = await opensslClient(edge, ['-servername', 'nobody.example.org']);
    assert.match(out, /no peer certificate available/);
  });

  test('a wildcard custom hostname covers one label', async () => {
    const one = await handshake(edge, { servername: 'shop.wild.customer.com', ca });
    assert.ok(one.ok, one.error);
    assert.equal(one.key, 'P-256');
    assert.equal((await handshake(edge, { servername: 'a.b.wild.customer.com', ca })).ok, false);
  });

  test('an RSA-only client to an ECDSA-only pack fails the handshake', async () => {
    const res = await handshake(edge, { servername: 'x.wild.customer.com', ca, sigalgs: RSA_ONLY });
    assert.equal(res.ok, false);
  });
});

describe('per-hostname TLS settings, in the handshake', () => {
  before(async () => {
    await createHostname('tls13.customer.com', { ssl: { settings: { min_tls_version: '1.3' } } });
    await createHostname('tls12.customer.com', { ssl: { settings: { tls_1_3: 'off' } } });
    await createHostname('ciphers.customer.com', { ssl: { settings: { tls_1_3: 'off', ciphers: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'] } } });
    await createHostname('h2.customer.com', { ssl: { settings: { http2: 'on' } } });
    await createHostname('tls10.customer.com', { ssl: { settings: { min_tls_version: '1.0' } } });
    await createHostname('tls11.customer.com', { ssl: { settings: { min_tls_version: '1.1' } } });
    await s.running.edge!.sync.settle();
  });

  test('min_tls_version 1.3: a TLS 1.2 ClientHello fails, 1.3 works', async () => {
    const old = await handshake(edge, { servername: 'tls13.customer.com', ca, maxVersion: 'TLSv1.2' });
    assert.equal(old.ok, false);
    assert.match(old.error!, /protocol version|alert/i);
    assert.equal((await handshake(edge, { servername: 'tls13.customer.com', ca })).protocol, 'TLSv1.3');
    // Other hostnames on the same listener still speak 1.2.
    assert.equal((await handshake(edge, { servername: 'pack.customer.com', ca, maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  });

  test('min_tls_version 1.0 / 1.1: legacy clients are served there, and only there', async () => {
    // OpenSSL 3 only speaks TLS 1.0/1.1 at security level 0, on the client side too.
    const legacy = (servername: string, version: 'TLSv1' | 'TLSv1.1') =>
      handshake(edge, { servername, ca, minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.equal((await legacy('tls10.customer.com', 'TLSv1')).protocol, 'TLSv1');
    assert.equal((await legacy('tls10.customer.com', 'TLSv1.1')).protocol, 'TLSv1.1');
    assert.equal((await handshake(edge, { servername: 'tls10.customer.com', ca })).protocol, 'TLSv1.3');
    assert.equal((await legacy('tls11.customer.com', 'TLSv1')).ok, false);
    assert.equal((await legacy('tls11.customer.com', 'TLSv1.1')).protocol, 'TLSv1.1');
    // The default minimum is 1.2: the same legacy clients fail the handshake.
    assert.equal((await legacy('pack.customer.com', 'TLSv1')).ok, false);
    assert.equal((await legacy('pack.customer.com', 'TLSv1.1')).ok, false);
  });

  test('tls_1_3 off: TLS 1.2 even when the client prefers 1.3', async () => {
    assert.equal((await handshake(edge, { servername: 'tls12.customer.com', ca })).protocol, 'TLSv1.2');
  });

  test('ciphers: only the listed suites are accepted', async () => {
    const ok = await handshake(edge, { servername: 'ciphers.customer.com', ca, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' });
    assert.ok(ok.ok, ok.error);
    const refused = await handshake(edge, { servername: 'ciphers.customer.com', ca, ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' });
    assert.equal(refused.ok, false);
    const elsewhere = await handshake(edge, { servername: 'pack.customer.com', ca, ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305', maxVersion: 'TLSv1.2' });
    assert.ok(elsewhere.ok, 'the default list applies to other hostnames');
  });

  test('http2: ALPN h2 only when on, and HTTP/2 is then served', async () => {
    assert.equal((await handshake(edge, { servername: 'h2.customer.com', ca, ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
    assert.equal((await handshake(edge, { servername: 'pack.customer.com', ca, ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
    const [host, port] = splitAddress(edge);
    const session = http2.connect(`https://h2.customer.com:${port}`, { ca, servername: 'h2.customer.com', host } as never);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/over-h2', ':method': 'GET' });
        let data = '';
        stream.on('data', (c) => (data += c));
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
      });
      const echoed = JSON.parse(body);
      assert.equal(echoed.url, '/over-h2');
      assert.equal(echoed.headers.host, `h2.customer.com:${port}`, ':authority is forwarded as Host');
      assert.equal(echoed.headers['x-forwarded-proto'], 'https');
    } finally {
      session.close();
    }
  });
});

describe('proxy to the origin', () => {
  test('Host preserved, X-Forwarded-For set to the client address, X-Forwarded-Proto, CF-Connecting-IP; forged client-cert headers dropped', async () => {
    const res = await request(edge, {
      servername: 'pack.customer.com',
      ca,
      path: '/a/b?c=d',
      headers: { 'x-forwarded-for': '198.51.100.7', 'x-client-cert-verified': 'SUCCESS', 'cf-connecting-ip': '203.0.113.1' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-origin'], 'echo');
    const echoed = JSON.parse(res.body);
    assert.equal(echoed.url, '/a/b?c=d');
    assert.equal(echoed.headers.host, 'pack.customer.com');
    assert.equal(echoed.headers['x-forwarded-for'], '127.0.0.1', "the client's own X-Forwarded-For is not trusted");
    assert.equal(echoed.headers['x-forwarded-proto'], 'https');
    assert.equal(echoed.headers['cf-connecting-ip'], '127.0.0.1');
    assert.equal(echoed.headers['x-client-cert-verified'], undefined);
  });

  test('request and response bodies stream both ways (8 MiB up, 8 MiB down)', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 'y');
    const up = await request(edge, { servername: 'pack.customer.com', ca, method: 'POST', path: '/upload', body, headers: { 'content-type': 'application/octet-stream' } });
    const echoed = JSON.parse(up.body);
    assert.equal(echoed.length, body.length);
    assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
    const down = await request(edge, { servername: 'pack.customer.com', ca, path: '/stream/8192' });
    assert.equal(down.status, 200);
    assert.equal(down.body.length, 8192 * 1024);
  });

  test('custom_origin_server wins over the fallback origin; no origin → 502 that says so', async () => {
    const zone2 = (await s.client.zones.create({ name: 'no-origin-saas.com', account: { id: s.accountId } })).id;
    const previous = zoneId;
    zoneId = zone2;
    try {
      await createHostname('orphan.customer.com');
      await createHostname('routed.customer.com', { custom_origin_server: 'localhost' });
    } finally {
      zoneId = previous;
    }
    await s.running.edge!.sync.settle();
    const orphan = await request(edge, { servername: 'orphan.customer.com', ca });
    assert.equal(orphan.status, 502);
    assert.match(orphan.body, /no origin is configured for orphan\.customer\.com/);
    const routed = await request(edge, { servername: 'routed.customer.com', ca });
    assert.equal(routed.status, 200);
  });
});

describe('mTLS', () => {
  let clientCa: Issuer;
  let otherCa: Issuer;
  let clientCert: Leaf;
  let strangerCert: Leaf;
  let caId: string;

  before(async () => {
    clientCa = await makeRoot('Client CA One');
    otherCa = await makeRoot('Client CA Two');
    clientCert = await makeLeaf(clientCa, { hosts: ['client-one'], keyType: 'ecdsa' });
    strangerCert = await makeLeaf(otherCa, { hosts: ['client-two'], keyType: 'ecdsa' });
    await createHostname('secure.customer.com');
    caId = (await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: clientCa.pem })).body.result.id;
    const put = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: caId, hostnames: ['secure.customer.com'] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    await s.running.edge!.sync.settle();
  });

  test('an associated hostname asks for a certificate naming its CA; others never ask', async () => {
    const asked = await opensslClient(edge, ['-servername', 'secure.customer.com']);
    assert.match(asked, /Acceptable client certificate CA names[\s\S]*Client CA One/);
    const notAsked = await opensslClient(edge, ['-servername', 'pack.customer.com']);
    assert.match(notAsked, /No client certificate CA names sent/);
  });

  test('no certificate or a foreign one: 403 with a short explanation; a verified one is proxied with its details', async () => {
    const none = await request(edge, { servername: 'secure.customer.com', ca });
    assert.equal(none.status, 403);
    assert.match(none.body, /requires a client certificate.*none was presented/);
    const foreign = await request(edge, { servername: 'secure.customer.com', ca, cert: strangerCert.certPem, key: strangerCert.keyPem }).catch((e) => ({ status: 0, body: String(e), headers: {} }));
    assert.equal(foreign.status, 403);
    assert.match(foreign.body, /does not chain/);
    const ok = await request(edge, { servername: 'secure.customer.com', ca, cert: clientCert.certPem, key: clientCert.keyPem });
    assert.equal(ok.status, 200, ok.body);
    const echoed = JSON.parse(ok.body);
    assert.equal(echoed.headers['x-client-cert-verified'], 'SUCCESS');
    assert.equal(echoed.headers['x-client-cert-fingerprint-sha256'], new NodeX509(clientCert.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
    assert.equal(echoed.headers['x-client-cert-subject'], 'CN=client-one');
  });

  test('the most recently associated uploaded CA wins; the managed CA works alongside it', async () => {
    const secondId = (await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: otherCa.pem })).body.result.id;
    await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: secondId, hostnames: ['secure.customer.com'] });
    await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames: ['secure.customer.com'] });
    const fromSecond = await eventually(
      () => request(edge, { servername: 'secure.customer.com', ca, cert: strangerCert.certPem, key: strangerCert.keyPem }),
      (r) => r.status === 200,
      'the newer CA is accepted',
    );
    assert.equal(JSON.parse(fromSecond.body).headers['x-client-cert-subject'], 'CN=client-two');
    assert.equal((await request(edge, { servername: 'secure.customer.com', ca, cert: clientCert.certPem, key: clientCert.keyPem })).status, 403);

    // A client certificate issued by the zone's managed CA (signed here with its stored key).
    const row = await s.running.ctx.store.db.selectFrom('managed_cas').selectAll().where('zone_id', '=', zoneId).executeTakeFirstOrThrow();
    const keyPem = s.running.ctx.vault.decrypt(row.key_ciphertext, row.key_id, row.id);
    const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const managed: Issuer = {
      cert: new x509.X509Certificate(row.certificate),
      keys: { privateKey: signingKey, publicKey: signingKey } as unknown as CryptoKeyPair,
      signing: { name: 'ECDSA', hash: 'SHA-256' } as Algorithm,
      pem: row.certificate,
    };
    const managedClient = await makeLeaf(managed, { hosts: ['managed-client'], keyType: 'ecdsa' });
    const viaManaged = await request(edge, { servername: 'secure.customer.com', ca, cert: managedClient.certPem, key: managedClient.keyPem });
    assert.equal(viaManaged.status, 200, viaManaged.body);
  });
});

describe('live changes, no restart', () => {
  test('replace, delete one certificate, settings, association, hostname deletion', async () => {
    const h = await createHostname('live.customer.com');
    const certs = Object.fromEntries(h.ssl.certificates.map((c: any) => [c.key_type, c.id]));
    const pack = `/zones/${zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.ssl.id}/certificates`;
    const first = await eventually(() => handshake(edge, { servername: 'live.customer.com', ca, sigalgs: ECDSA_ONLY }), (r) => r.ok, 'served');

    // A keep-alive client keeps working across the changes: each change closes its idle
    // connection (opened under the old configuration), and the agent opens a new one.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await request(edge, { servername: 'live.customer.com', ca, agent, path: '/kept' });
    assert.equal(before.status, 200);

    const next = await pki.leaf({ hosts: ['live.customer.com'], keyType: 'ecdsa' });
    const put = await s.api('PUT', `${pack}/${certs.ecdsa}`, { custom_certificate: next.chainPem, custom_key: next.keyPem });
    assert.equal(put.status, 200);
    const replaced = await eventually(() => handshake(edge, { servername: 'live.customer.com', ca, sigalgs: ECDSA_ONLY }), (r) => r.ok && r.fingerprint256 !== first.fingerprint256, 'replacement served');
    assert.equal(replaced.fingerprint256, new NodeX509(next.certPem).fingerprint256);

    const del = await s.api('DELETE', `${pack}/${certs.ecdsa}`);
    assert.equal(del.status, 200);
    await eventually(() => handshake(edge, { servername: 'live.customer.com', ca, sigalgs: ECDSA_ONLY }), (r) => !r.ok, 'ECDSA gone');
    assert.equal((await handshake(edge, { servername: 'live.customer.com', ca })).key, 'RSA 2048');

    await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { ssl: { settings: { http2: 'on', tls_1_3: 'off' } } });
    const edited = await eventually(() => handshake(edge, { servername: 'live.customer.com', ca, ALPNProtocols: ['h2', 'http/1.1'] }), (r) => r.alpn === 'h2', 'settings applied');
    assert.equal(edited.protocol, 'TLSv1.2');

    const kept = await request(edge, { servername: 'live.customer.com', ca, agent, path: '/still-here' });
    assert.equal(kept.status, 200, 'the keep-alive client is still served');
    assert.equal(JSON.parse(kept.body).url, '/still-here');
    agent.destroy();

    await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames: ['live.customer.com', 'secure.customer.com'] });
    await eventually(() => request(edge, { servername: 'live.customer.com', ca }), (r) => r.status === 403, 'mTLS now required');

    await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${h.id}`);
    await eventually(() => handshake(edge, { servername: 'live.customer.com', ca }), (r) => !r.ok, 'hostname gone');
  });

  test('origin down → 502 with a short page', async () => {
    await origin.close();
    try {
      const res = await request(edge, { servername: 'pack.customer.com', ca });
      assert.equal(res.status, 502);
      assert.match(res.body, /could not be reached/);
    } finally {
      await new Promise<void>((r) => origin.server.listen(origin.port, r));
    }
    assert.equal((await request(edge, { servername: 'pack.customer.com', ca })).status, 200);
  });
});

describe('scale behaviour', () => {
  test('concurrent first handshakes for one hostname share one build; the LRU keeps its cap', async () => {
    await createHostname('burst.customer.com');
    await s.running.edge!.sync.settle();
    const edgeInstance = s.running.edge!;
    edgeInstance.sites.invalidate((await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=burst.customer.com`)).body.result[0].id);
    const before = edgeInstance.sites.builds;
    const results = await Promise.all(Array.from({ length: 20 }, () => handshake(edge, { servername: 'burst.customer.com', ca })));
    assert.ok(results.every((r) => r.ok));
    assert.equal(edgeInstance.sites.builds - before, 1);
  });
});

describe('rebuilt ahead of the next handshake', () => {
  test('a change to a cached hostname rebuilds it at once; a hostname not cached stays lazy', async () => {
    const edgeInstance = s.running.edge!;
    const h = await createHostname('rotate.customer.com');
    const cold = await createHostname('cold.customer.com');
    await edgeInstance.sync.settle();
    const first = await handshake(edge, { servername: 'rotate.customer.com', ca, sigalgs: ECDSA_ONLY });
    assert.ok(first.ok);

    const ecdsaId = h.ssl.certificates.find((c: any) => c.key_type === 'ecdsa').id;
    const next = await pki.leaf({ hosts: ['rotate.customer.com'], keyType: 'ecdsa' });
    const before = edgeInstance.sites.builds;
    const put = await s.api('PUT', `/zones/${zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.ssl.id}/certificates/${ecdsaId}`, { custom_certificate: next.chainPem, custom_key: next.keyPem });
    assert.equal(put.status, 200);
    await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${cold.id}`, { custom_metadata: { tier: 'free' } });
    await edgeInstance.sync.settle();
    assert.equal(edgeInstance.sites.builds - before, 1, 'one build, for the cached hostname, before any handshake');

    const rotated = await handshake(edge, { servername: 'rotate.customer.com', ca, sigalgs: ECDSA_ONLY });
    assert.equal(rotated.fingerprint256, new NodeX509(next.certPem).fingerprint256);
    assert.equal(edgeInstance.sites.builds - before, 1, 'the handshake found it built');

    // Deleted: nothing is kept for it, and it is no longer served.
    const size = edgeInstance.sites.size;
    await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${h.id}`);
    await edgeInstance.sync.settle();
    assert.equal(edgeInstance.sites.size, size - 1);
    assert.equal((await handshake(edge, { servername: 'rotate.customer.com', ca })).ok, false);
  });
});

describe('an edge in its own process', () => {
  test('--role edge on the same database serves changes made through another process’s API', async () => {
    const { runEdgecert } = await import('../helpers/process.js');
    const child = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], {
      EDGECERT_DATA_DIR: s.dataDir,
      EDGECERT_DATABASE_URL: s.databaseUrl,
      EDGECERT_ORIGIN_SCHEME: 'http',
      EDGECERT_ORIGIN_PORT: String(origin.port),
      EDGECERT_LOG_LEVEL: 'warn',
    });
    try {
      const address = (await child.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
      assert.doesNotMatch(child.stdout(), /API listening/);
      assert.ok((await handshake(address, { servername: 'pack.customer.com', ca })).ok, 'loaded at start');
      await createHostname('late.customer.com');
      const served = await eventually(() => handshake(address, { servername: 'late.customer.com', ca }), (r) => r.ok, 'picked up by polling the change feed');
      assert.equal(served.authorized, true);
      // With several workers each follows the feed on its own poll: every one of them within a second.
      const res = await eventually(() => request(address, { servername: 'late.customer.com', ca }).catch(() => ({ status: 0 })), (r) => r.status === 200, 'served by every worker');
      assert.equal(res.status, 200);
    } finally {
      child.child.kill('SIGTERM');
      assert.equal(await child.exited, 0);
    }
  });
});

describe('change feed retention', () => {
  test('an edge that fell behind the pruned change feed reloads everything and serves the present', async () => {
    const sync = s.running.edge!.sync;
    const gone = await createHostname('pruned-away.customer.com');
    await sync.settle();
    assert.ok((await handshake(edge, { servername: 'pruned-away.customer.com', ca })).ok);
    // The edge stops following; meanwhile a hostname is deleted, another created, and every
    // change but the newest is pruned: the edge cannot replay what it missed.
    await sync.stop();
    await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${gone.id}`);
    await createHostname('arrived-later.customer.com');
    await createHostname('arrived-last.customer.com'); // the one change the prune keeps
    const pruned = await s.running.ctx.store.changes.prune(s.running.ctx.store.db, '9999-01-01T00:00:00.000000Z');
    assert.ok(pruned > 0);
    await sync.settle();
    assert.equal((await handshake(edge, { servername: 'pruned-away.customer.com', ca })).ok, false, 'the deletion it never saw is applied');
    assert.ok((await handshake(edge, { servername: 'arrived-later.customer.com', ca })).ok, 'a creation whose change was pruned is served');
    assert.ok((await handshake(edge, { servername: 'arrived-last.customer.com', ca })).ok);
    assert.ok((await handshake(edge, { servername: 'pack.customer.com', ca })).ok, 'everything else still served');
    assert.ok(s.logs.join('').includes('behind the retained change feed'));
    await sync.start();
  });
});
