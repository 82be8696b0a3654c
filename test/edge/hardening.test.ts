import 'reflect-metadata';
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeLeaf, makeRoot, makeTestPki, type Issuer, type Leaf, type TestPki } from '../helpers/pki.js';
import { eventually } from '../helpers/eventually.js';
import { opensslClient, request, splitAddress, startEchoOrigin } from '../helpers/tls.js';

/**
 * The edge facing hostile clients (issue: safe to face the internet): requests that address
 * another hostname than their connection's, headers that impersonate the edge's own, wildcard
 * hostnames with associations, connections that outlive a change of rules, and clients that
 * hold connections open. Short timeouts so that the waits stay short.
 */
let s: TestServer;
let pki: TestPki;
let origin: Awaited<ReturnType<typeof startEchoOrigin>>;
let zoneId: string;
let otherZoneId: string;
let edge: string;
let ca: string;
let clientCa: Issuer;
let clientCert: Leaf;
let caId: string;
// The inactivity timeout is long, so that the headers and keep-alive timeouts are what the tests see act.
const TIMEOUTS = { headers: 1000, keepAlive: 1500, idle: 60_000 };
const PER_IP = 8;

async function createHostname(zone: string, hostname: string, extra: Record<string, unknown> = {}) {
  const leaf = await pki.leaf({ hosts: [hostname], keyType: 'ecdsa' });
  const res = await s.api('POST', `/zones/${zone}/custom_hostnames`, { hostname, ...extra, ssl: { ...(extra.ssl as object), custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.result;
}

const associate = async (hostnames: string[]) => {
  const res = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: caId, hostnames });
  assert.equal(res.status, 200, JSON.stringify(res.body));
};

/** A TLS connection to the edge on which raw HTTP/1.1 is written; `response()` reads one answer. */
async function rawConnection(servername: string, opts: { cert?: Leaf } = {}) {
  const [host, port] = splitAddress(edge);
  const socket = tls.connect({ host, port, servername, ca, ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  let buffered = '';
  let ended = false;
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.on('data', (d) => (buffered += d));
  socket.on('end', () => (ended = true));
  socket.on('error', () => undefined);
  return {
    socket,
    closed,
    get ended() {
      return ended || socket.destroyed;
    },
    write: (text: string) => socket.write(text),
    /** The next complete response (headers, then a content-length or chunked body). */
    async response(ms = 5000): Promise<{ status: number; headers: string; body: string }> {
      const deadline = Date.now() + ms;
      for (;;) {
        const parsed = parseResponse(buffered);
        if (parsed) {
          buffered = buffered.slice(parsed.consumed);
          return parsed;
        }
        if (Date.now() > deadline || (ended && buffered === '')) throw new Error(`no response (${ended ? 'closed' : 'timeout'}): ${buffered.slice(0, 200)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

function parseResponse(text: string): { status: number; headers: string; body: string; consumed: number } | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = text.slice(0, end);
  const status = Number(head.split(' ')[1]);
  if (!/transfer-encoding: *chunked/i.test(head)) {
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (text.length < end + 4 + length) return null;
    return { status, headers: head, body: text.slice(end + 4, end + 4 + length), consumed: end + 4 + length };
  }
  let at = end + 4;
  let body = '';
  for (;;) {
    const line = text.indexOf('\r\n', at);
    if (line < 0) return null;
    const size = parseInt(text.slice(at, line), 16);
    if (text.length < line + 2 + size + 2) return null;
    body += text.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
    if (size === 0) return { status, headers: head, body, consumed: at };
  }
}

before(async () => {
  pki = await makeTestPki();
  origin = await startEchoOrigin();
  s = await startTestServer({
    trustPem: pki.trustPem,
    env: {
      EDGECERT_ORIGIN_SCHEME: 'http',
      EDGECERT_ORIGIN_PORT: String(origin.port),
      EDGECERT_HEADERS_TIMEOUT: `${TIMEOUTS.headers}ms`,
      EDGECERT_KEEPALIVE_TIMEOUT: `${TIMEOUTS.keepAlive}ms`,
      EDGECERT_IDLE_TIMEOUT: `${TIMEOUTS.idle}ms`,
      EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP: String(PER_IP),
    },
  });
  zoneId = (await s.client.zones.create({ name: 'front-saas.com', account: { id: s.accountId } })).id;
  otherZoneId = (await s.client.zones.create({ name: 'other-front-saas.com', account: { id: s.accountId } })).id;
  for (const z of [zoneId, otherZoneId]) await s.api('PUT', `/zones/${z}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
  edge = s.running.edgeAddress!;
  ca = pki.trustPem;
  clientCa = await makeRoot('Hardening Client CA');
  clientCert = await makeLeaf(clientCa, { hosts: ['hardening-client'], keyType: 'ecdsa' });
  caId = (await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: clientCa.pem })).body.result.id;

  await createHostname(zoneId, 'open.customer-front.com', { ssl: { settings: { http2: 'on' } } });
  await createHostname(zoneId, 'locked.customer-front.com', { ssl: { settings: { http2: 'on' } } });
  await createHostname(zoneId, '*.wild.customer-front.com');
  await createHostname(otherZoneId, 'elsewhere.customer-front.com');
  await associate(['locked.customer-front.com']);
  await s.running.edge!.sync.settle();
});
after(async () => {
  await s.close();
  await origin.close();
  removeDir(s.dataDir);
});

describe('a request must address what its connection serves', () => {
  test('HTTP/1.1 Host of another hostname (mTLS, other zone, unknown): 421 before any origin contact', async () => {
    const before = origin.requests;
    for (const host of ['locked.customer-front.com', 'LOCKED.customer-front.com:443', 'locked.customer-front.com.', 'elsewhere.customer-front.com', 'nobody.example.org', '127.0.0.1', '[::1]:443']) {
      const res = await request(edge, { servername: 'open.customer-front.com', ca, headers: { host } });
      assert.equal(res.status, 421, `Host: ${host}`);
      assert.match(res.body, /opened for open\.customer-front\.com and cannot serve/);
    }
    assert.equal(origin.requests, before, 'the origin never saw them');
    // The connection's own name, in any case and with a port, is served.
    for (const host of ['open.customer-front.com', 'Open.Customer-Front.com:8443']) {
      const res = await request(edge, { servername: 'open.customer-front.com', ca, headers: { host } });
      assert.equal(res.status, 200, `Host: ${host}`);
      assert.equal(JSON.parse(res.body).headers.host, host);
    }
  });

  test('HTTP/1.1 absolute-form target naming another hostname: 421 (it wins over Host); naming its own: proxied with the origin-form path', async () => {
    const before = origin.requests;
    const conn = await rawConnection('open.customer-front.com');
    conn.write('GET https://locked.customer-front.com/secret HTTP/1.1\r\nHost: open.customer-front.com\r\n\r\n');
    const fronted = await conn.response();
    assert.equal(fronted.status, 421);
    // Userinfo that names the connection's own host does not make the target it.
    conn.write('GET https://open.customer-front.com@locked.customer-front.com/ HTTP/1.1\r\nHost: open.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 421);
    assert.equal(origin.requests, before);
    conn.write('GET https://open.customer-front.com/x?y=1 HTTP/1.1\r\nHost: locked.customer-front.com\r\n\r\n');
    const own = await conn.response();
    assert.equal(own.status, 200);
    const echoed = JSON.parse(own.body);
    assert.equal(echoed.url, '/x?y=1');
    assert.equal(echoed.headers.host, 'open.customer-front.com', 'the origin sees the authority that was checked');
    conn.socket.destroy();
  });

  test('HTTP/2 :authority of another hostname: 421; its own: 200', async () => {
    const before = origin.requests;
    const session = http2.connect(`https://${edge}`, { servername: 'open.customer-front.com', ca });
    session.on('error', () => undefined);
    const get = (authority: string) =>
      new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/', ':authority': authority });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
    assert.equal(await get('locked.customer-front.com'), 421);
    assert.equal(await get('elsewhere.customer-front.com'), 421);
    assert.equal(origin.requests, before);
    assert.equal(await get('open.customer-front.com'), 200);
    session.close();
  });

  test('the mTLS hostname itself still demands its certificate, and serves it', async () => {
    assert.equal((await request(edge, { servername: 'locked.customer-front.com', ca })).status, 403);
    const ok = await request(edge, { servername: 'locked.customer-front.com', ca, cert: clientCert.certPem, key: clientCert.keyPem });
    assert.equal(ok.status, 200);
    // With a verified certificate for locked, the connection still cannot serve open.
    const conn = await rawConnection('locked.customer-front.com', { cert: clientCert });
    conn.write('GET / HTTP/1.1\r\nHost: open.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 421);
    conn.socket.destroy();
  });
});

test('client headers that impersonate the edge’s own, with dashes or underscores, never reach the origin; X-Forwarded-For is the client address', async () => {
  const forged = {
    'x-client-cert-verified': 'SUCCESS',
    X_Client_Cert_Verified: 'SUCCESS',
    'x_client_cert_fingerprint_sha256': 'ab',
    'X-Client_Cert-Subject': 'CN=admin',
    cf_connecting_ip: '203.0.113.9',
    'CF-Connecting-IP': '203.0.113.9',
    x_forwarded_for: '203.0.113.9',
    'x-forwarded-for': '198.51.100.7',
    X_Forwarded_Proto: 'http',
  };
  const res = await request(edge, { servername: 'open.customer-front.com', ca, headers: forged });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body).headers as Record<string, string>;
  const names = Object.keys(seen).map((n) => n.replace(/_/g, '-'));
  for (const name of ['x-client-cert-verified', 'x-client-cert-fingerprint-sha256', 'x-client-cert-subject']) assert.ok(!names.includes(name), `${name} dropped`);
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['cf-connecting-ip'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.equal(names.filter((n) => n === 'x-forwarded-for' || n === 'cf-connecting-ip' || n === 'x-forwarded-proto').length, 3, 'one of each: the edge’s');
});

describe('a wildcard custom hostname with associations', () => {
  test('an association of a name the wildcard serves is enforced for that SNI only, and a connection cannot switch to it', async () => {
    await associate(['locked.customer-front.com', 'app.wild.customer-front.com']);
    await s.running.edge!.sync.settle();
    const asked = await opensslClient(edge, ['-servername', 'app.wild.customer-front.com']);
    assert.match(asked, /Acceptable client certificate CA names[\s\S]*Hardening Client CA/);
    assert.equal((await request(edge, { servername: 'app.wild.customer-front.com', ca })).status, 403);
    const ok = await request(edge, { servername: 'app.wild.customer-front.com', ca, cert: clientCert.certPem, key: clientCert.keyPem });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).headers['x-client-cert-verified'], 'SUCCESS');
    // Other names below the wildcard are not asked, and each may address the others of its kind.
    assert.match(await opensslClient(edge, ['-servername', 'shop.wild.customer-front.com']), /No client certificate CA names sent/);
    assert.equal((await request(edge, { servername: 'shop.wild.customer-front.com', ca })).status, 200);
    assert.equal((await request(edge, { servername: 'shop.wild.customer-front.com', ca, headers: { host: 'blog.wild.customer-front.com' } })).status, 200);
    // But not the associated one, nor a name the wildcard does not cover.
    assert.equal((await request(edge, { servername: 'shop.wild.customer-front.com', ca, headers: { host: 'app.wild.customer-front.com' } })).status, 421);
    assert.equal((await request(edge, { servername: 'shop.wild.customer-front.com', ca, headers: { host: 'a.b.wild.customer-front.com' } })).status, 421);
  });

  test('an association of a name neither in the zone nor served by one of its hostnames is still refused', async () => {
    const res = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: caId, hostnames: ['a.b.wild.customer-front.com'] });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].code, 1823);
  });
});

describe('rules change, connections do not outlive them', () => {
  test('HTTP/1.1 keep-alive: an association closes the idle connection within a second; a request racing it gets 421', async () => {
    const conn = await rawConnection('open.customer-front.com');
    conn.write('GET / HTTP/1.1\r\nHost: open.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    const answered = Date.now();
    await associate(['locked.customer-front.com', 'app.wild.customer-front.com', 'open.customer-front.com']);
    const closedAt = await Promise.race([conn.closed, new Promise<number>((r) => setTimeout(() => r(0), 1000))]);
    assert.ok(closedAt > 0, 'closed within 1 s of the API’s answer');
    assert.ok(closedAt - answered < 1000 + 100);
    assert.equal((await request(edge, { servername: 'open.customer-front.com', ca })).status, 403, 'a new connection meets the new rule');
    await associate(['locked.customer-front.com', 'app.wild.customer-front.com']);
    await s.running.edge!.sync.settle();
  });

  test('HTTP/1.1: a request in flight when the certificate changes finishes, with Connection: close', async () => {
    const h = (await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=open.customer-front.com`)).body.result[0];
    const conn = await rawConnection('open.customer-front.com');
    conn.write('GET /slow/600 HTTP/1.1\r\nHost: open.customer-front.com\r\n\r\n');
    await new Promise((r) => setTimeout(r, 150));
    const next = await pki.leaf({ hosts: ['open.customer-front.com'], keyType: 'ecdsa' });
    const put = await s.api('PUT', `/zones/${zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.ssl.id}/certificates/${h.ssl.certificates[0].id}`, { custom_certificate: next.chainPem, custom_key: next.keyPem });
    assert.equal(put.status, 200);
    const res = await conn.response();
    assert.equal(res.status, 200, 'the request in flight is answered');
    assert.match(res.headers, /connection: close/i);
    await Promise.race([conn.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open')), 1000))]);
  });

  test('HTTP/2: a settings change sends GOAWAY; a deleted hostname’s connections close', async () => {
    const session = http2.connect(`https://${edge}`, { servername: 'open.customer-front.com', ca });
    session.on('error', () => undefined);
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      req.on('response', () => resolve());
      req.on('error', reject);
      req.resume();
      req.end();
    });
    const h = (await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=open.customer-front.com`)).body.result[0];
    await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { ssl: { settings: { min_tls_version: '1.3' } } });
    await Promise.race([goaway, new Promise((_, reject) => setTimeout(() => reject(new Error('no GOAWAY within 1 s')), 1000))]);
    session.destroy();

    const doomed = await createHostname(zoneId, 'doomed.customer-front.com');
    await s.running.edge!.sync.settle();
    const conn = await rawConnection('doomed.customer-front.com');
    conn.write('GET / HTTP/1.1\r\nHost: doomed.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${doomed.id}`);
    await Promise.race([conn.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open')), 1000))]);
  });

  test('a metadata-only change leaves connections open', async () => {
    const conn = await rawConnection('shop.wild.customer-front.com');
    conn.write('GET / HTTP/1.1\r\nHost: shop.wild.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    const h = (await s.api('GET', `/zones/${zoneId}/custom_hostnames?hostname=*.wild.customer-front.com`)).body.result[0];
    await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { custom_metadata: { plan: 'pro' } });
    await s.running.edge!.sync.settle();
    conn.write('GET /again HTTP/1.1\r\nHost: shop.wild.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    conn.socket.destroy();
  });

  test('a new exact hostname takes over a name a wildcard served: the wildcard’s connection for it closes', async () => {
    const conn = await rawConnection('taken.wild.customer-front.com');
    conn.write('GET / HTTP/1.1\r\nHost: taken.wild.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    await createHostname(zoneId, 'taken.wild.customer-front.com');
    await Promise.race([conn.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open')), 1000))]);
  });
});

describe('idle, slow and hoarding clients', () => {
  const openedAndClosed = async (connect: () => Promise<{ closed: Promise<number> }>, within: number) => {
    const opened = Date.now();
    const c = await connect();
    const closedAt = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(0), within + 2000))]);
    assert.ok(closedAt > 0, `closed by the server (waited ${within + 2000} ms)`);
    return closedAt - opened;
  };
  const tcp = (localAddress?: string) =>
    new Promise<{ socket: net.Socket; closed: Promise<number> }>((resolve, reject) => {
      const [host, port] = splitAddress(edge);
      const socket = net.connect({ host, port, localAddress });
      const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
      socket.on('error', () => undefined);
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });

  test('a TCP connection that never sends a ClientHello, and a TLS connection that never sends a request, are closed', async () => {
    await openedAndClosed(() => tcp(), TIMEOUTS.headers);
    await openedAndClosed(() => rawConnection('open.customer-front.com'), TIMEOUTS.headers);
  });

  test('headers dribbled a byte at a time are cut at the headers timeout', async () => {
    const conn = await rawConnection('shop.wild.customer-front.com');
    const dribble = setInterval(() => conn.write('X'), 100);
    conn.write('GET / HTTP/1.1\r\nHost: shop.wild.customer-front.com\r\nX-Slow: ');
    try {
      const closedAt = await Promise.race([conn.closed, new Promise<number>((r) => setTimeout(() => r(0), TIMEOUTS.headers + 2500))]);
      assert.ok(closedAt > 0, 'closed while still dribbling');
    } finally {
      clearInterval(dribble);
    }
  });

  test('an idle keep-alive connection and an idle HTTP/2 session are closed', async () => {
    const conn = await rawConnection('shop.wild.customer-front.com');
    conn.write('GET / HTTP/1.1\r\nHost: shop.wild.customer-front.com\r\n\r\n');
    assert.equal((await conn.response()).status, 200);
    await Promise.race([conn.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('kept-alive connection still open')), TIMEOUTS.keepAlive + 2000))]);

    const session = http2.connect(`https://${edge}`, { servername: 'locked.customer-front.com', ca, cert: clientCert.certPem, key: clientCert.keyPem });
    session.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    // PINGs keep the session busy, but without a stream it is still idle for the edge.
    const pinger = setInterval(() => !session.destroyed && session.ping(() => undefined), 200);
    try {
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('HTTP/2 session still open')), TIMEOUTS.keepAlive + 3000))]);
    } finally {
      clearInterval(pinger);
      session.destroy();
    }
  });

  test(`one address holds at most ${PER_IP} connections; others are still served`, async () => {
    const hoard = await Promise.all(Array.from({ length: PER_IP }, () => tcp('127.0.0.2')));
    const extra = await tcp('127.0.0.2');
    await Promise.race([extra.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('over the cap but open')), 1000))]);
    const other = await new Promise<number>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: splitAddress(edge)[1], servername: 'shop.wild.customer-front.com', ca, localAddress: '127.0.0.3', headers: { host: 'shop.wild.customer-front.com' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(other, 200, 'another address is served while one hoards');
    assert.ok(s.running.edge!.refused.perIp >= 1);
    for (const h of hoard) h.socket.destroy();
  });
});

test('origin pools are bounded and released when idle', async () => {
  const h = await createHostname(zoneId, 'pools.customer-front.com');
  const proxy = s.running.edge!.proxy;
  const { MAX_ORIGIN_POOLS } = await import('../../src/edge/proxy.js');
  for (let i = 0; i < MAX_ORIGIN_POOLS + 20; i++) {
    await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { custom_origin_sni: `sni-${i}.origin.example` });
    const res = await eventually(() => request(edge, { servername: 'pools.customer-front.com', ca }), (r) => r.status === 200, 'served');
    assert.equal(res.status, 200);
  }
  assert.ok(proxy.poolCount <= MAX_ORIGIN_POOLS, `${proxy.poolCount} pools`);
  proxy.closeIdle(Date.now() + 1);
  assert.equal(proxy.poolCount, 0, 'idle pools released');
  assert.equal((await request(edge, { servername: 'pools.customer-front.com', ca })).status, 200, 'and made again on demand');
});

test('at the total connection cap, an idle connection of the busiest address makes room for a new client', async () => {
  const small = await startTestServer({
    trustPem: pki.trustPem,
    env: { EDGECERT_ORIGIN_SCHEME: 'http', EDGECERT_ORIGIN_PORT: String(origin.port), EDGECERT_EDGE_MAX_CONNECTIONS: '6', EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP: '100' },
  });
  try {
    const zone = (await small.client.zones.create({ name: 'cap-saas.com', account: { id: small.accountId } })).id;
    await small.api('PUT', `/zones/${zone}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
    const leaf = await pki.leaf({ hosts: ['cap.customer-front.com'], keyType: 'ecdsa' });
    await small.api('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'cap.customer-front.com', ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
    await small.running.edge!.sync.settle();
    const [host, port] = splitAddress(small.running.edgeAddress!);
    const hoard = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ host, port, localAddress: '127.0.0.2' });
          socket.on('error', () => undefined);
          socket.resume();
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
        }),
      ),
    );
    await eventually(async () => small.running.edge!.connectionCount, (n) => n === 6, 'six connections held');
    const res = await request(small.running.edgeAddress!, { servername: 'cap.customer-front.com', ca });
    assert.equal(res.status, 200, 'the newcomer is served');
    assert.equal(small.running.edge!.refused.evicted, 1);
    await eventually(async () => hoard.filter((s) => s.destroyed || s.readyState !== 'open').length, (n) => n === 1, 'one hoarded connection was closed');
    for (const s of hoard) s.destroy();
  } finally {
    await small.close();
    removeDir(small.dataDir);
  }
});
