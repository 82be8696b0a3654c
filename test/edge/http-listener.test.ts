import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { splitAddress } from '../helpers/tls.js';
import { issuanceRepository } from '../../src/resources/custom-hostnames/issuance-repository.js';

/**
 * The edge's plain HTTP listener (port 80's job) faces the internet like the TLS edge: every
 * answer is bound to the Host the request names, and slow, idle or hoarding clients are cut.
 */
const TIMEOUTS = { headers: 1000, keepAlive: 1000 };
const PER_IP = 4;
let s: TestServer;
let pki: TestPki;
let port: number;
let zoneId: string;
let served: { id: string; http_body: string };
let pending: { id: string };

/** A raw HTTP/1.1 exchange: what the listener answered, or that it closed. */
function raw(request: string, opts: { localAddress?: string } = {}): Promise<{ head: string; body: string; closed: Promise<number>; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
    let data = '';
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      data += d;
      const end = data.indexOf('\r\n\r\n');
      const length = Number(/content-length: *(\d+)/i.exec(data)?.[1] ?? 0);
      if (end >= 0 && data.length >= end + 4 + length) resolve({ head: data.slice(0, end), body: data.slice(end + 4, end + 4 + length), closed, socket });
    });
    socket.once('connect', () => socket.write(request));
    socket.once('error', reject);
    closed.then(() => resolve({ head: data.split('\r\n\r\n')[0] ?? '', body: '', closed, socket }));
  });
}
const get = (host: string, path: string) => raw(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
const statusOf = (head: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({
    trustPem: pki.trustPem,
    env: { EDGECERT_HEADERS_TIMEOUT: `${TIMEOUTS.headers}ms`, EDGECERT_KEEPALIVE_TIMEOUT: `${TIMEOUTS.keepAlive}ms`, EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP: String(PER_IP) },
  });
  port = splitAddress(s.running.httpAddress!)[1];
  zoneId = (await s.api('POST', '/zones', { name: 'plain.test', account: { id: s.accountId } })).body.result.id;
  const leaf = await pki.leaf({ hosts: ['shop.plain.test'], keyType: 'ecdsa' });
  const a = (await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'shop.plain.test', ssl: { custom_cert_bundle: [{ custom_certificate: leaf.chainPem, custom_key: leaf.keyPem }] } })).body.result;
  served = { id: a.id, http_body: a.ownership_verification_http.http_body };
  pending = (await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'new.plain.test', ssl: { method: 'http', type: 'dv' } })).body.result;
  // A challenge as the issuer stores it (no ACME directory is configured here).
  await s.running.ctx.store.write(null, (trx) =>
    issuanceRepository.putChallenge(trx, { token: 'tok-123', custom_hostname_id: pending.id, hostname: 'new.plain.test', key_authorization: 'tok-123.thumbprint', created_at: new Date().toISOString() }),
  );
});
after(() => s?.close());

test('an ACME challenge answers only for its own hostname', async () => {
  const mine = await get('new.plain.test:80', '/.well-known/acme-challenge/tok-123');
  assert.equal(statusOf(mine.head), 200);
  assert.equal(mine.body, 'tok-123.thumbprint');
  for (const host of ['shop.plain.test', 'NEW.plain.test.evil.test', 'other.test']) {
    assert.equal(statusOf((await get(host, '/.well-known/acme-challenge/tok-123')).head), 404, host);
  }
  // The Host decides, not an absolute-form target naming the challenge's hostname.
  const absolute = await raw('GET http://new.plain.test/.well-known/acme-challenge/tok-123 HTTP/1.1\r\nHost: shop.plain.test\r\nConnection: close\r\n\r\n');
  assert.notEqual(absolute.body, 'tok-123.thumbprint');
});

test('ownership tokens, redirects only for served hostnames, and refusals of a Host that names none', async () => {
  const token = await get('shop.plain.test', `/.well-known/cf-custom-hostname-challenge/${served.id}`);
  assert.deepEqual([statusOf(token.head), token.body], [200, served.http_body]);
  assert.equal(statusOf((await get('new.plain.test', `/.well-known/cf-custom-hostname-challenge/${served.id}`)).head), 404);
  const redirect = await get('shop.plain.test', '/cart?x=1');
  assert.equal(statusOf(redirect.head), 301);
  assert.match(redirect.head, /\r\nlocation: https:\/\/shop\.plain\.test\/cart\?x=1\r\n/i);
  // A hostname still waiting for its certificate is not sent to an HTTPS that cannot serve it.
  assert.equal(statusOf((await get('new.plain.test', '/')).head), 404);
  for (const host of ['', '127.0.0.1', '[::1]:80', 'a..b', 'x'.repeat(300) + '.test']) {
    assert.equal(statusOf((await raw(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).head), 400, `Host: ${host}`);
  }
  assert.equal(statusOf((await raw(`GET / HTTP/1.1\r\nHost: shop.plain.test\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`)).head), 431);
});

test('silent, dribbling and idle connections are closed; one address holds a bounded number', async () => {
  const within = async (closed: Promise<number>, ms: number, what: string) => {
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), ms))]);
    assert.ok(at > 0, what);
  };
  const silent = await new Promise<net.Socket>((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => resolve(c));
  });
  await within(new Promise((r) => silent.once('close', () => r(Date.now()))), TIMEOUTS.headers + 2500, 'a connection that sends nothing is closed');

  const dribbler = net.connect({ host: '127.0.0.1', port });
  dribbler.on('error', () => undefined);
  let answer = '';
  dribbler.on('data', (d) => (answer += d));
  const dribbled = new Promise<number>((r) => dribbler.once('close', () => r(Date.now())));
  dribbler.write('GET / HTTP/1.1\r\nHost: shop.plain.test\r\nX-Slow: ');
  const drip = setInterval(() => dribbler.write('x'), 100);
  try {
    await within(dribbled, TIMEOUTS.headers + 2500, 'headers dribbled a byte at a time are cut');
    assert.match(answer, /^HTTP\/1\.1 408 /);
  } finally {
    clearInterval(drip);
  }

  const kept = await raw('GET /.well-known/acme-challenge/tok-123 HTTP/1.1\r\nHost: new.plain.test\r\n\r\n');
  assert.equal(statusOf(kept.head), 200);
  await within(kept.closed, TIMEOUTS.keepAlive + 2500, 'an idle kept-alive connection is closed');

  const hoard = await Promise.all(Array.from({ length: PER_IP }, () => new Promise<net.Socket>((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }, () => resolve(c));
    c.on('error', () => undefined);
  })));
  const extra = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  extra.on('error', () => undefined);
  await within(new Promise((r) => extra.once('close', () => r(Date.now()))), 1000, 'over the per-address cap: closed at once');
  const other = await raw('GET / HTTP/1.1\r\nHost: shop.plain.test\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.3' });
  assert.equal(statusOf(other.head), 301, 'another address is served meanwhile');
  for (const h of hoard) h.destroy();
});
