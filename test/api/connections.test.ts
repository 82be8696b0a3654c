import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';

/**
 * The API's connection timeouts (issue: safe to face the internet): silent, dribbling and idle
 * kept-alive connections are closed; the variables set them. Short values keep the waits short;
 * the inactivity timeout is long, so that it cannot be what closes them.
 */
let s: TestServer;
const HEADERS_MS = 1000;
const KEEPALIVE_MS = 1500;

before(async () => {
  s = await startTestServer({ env: { EDGECERT_HEADERS_TIMEOUT: `${HEADERS_MS}ms`, EDGECERT_KEEPALIVE_TIMEOUT: `${KEEPALIVE_MS}ms`, EDGECERT_IDLE_TIMEOUT: '60s' } });
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

function connect(): Promise<{ socket: net.Socket; closed: Promise<number>; received: () => string }> {
  const { hostname, port } = new URL(s.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let received = '';
    socket.on('data', (d) => (received += d));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('connect', () => resolve({ socket, closed, received: () => received }));
    socket.once('error', reject);
  });
}

const closedWithin = async (c: { closed: Promise<number> }, ms: number, what: string) => {
  const at = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(0), ms))]);
  assert.ok(at > 0, `${what}: still open after ${ms} ms`);
};

test('200 silent connections are all closed after the headers timeout; /healthz answers meanwhile', async () => {
  const silent = await Promise.all(Array.from({ length: 200 }, connect));
  const health = await fetch(`${s.url}/healthz`);
  assert.equal(health.status, 200);
  await Promise.all(silent.map((c) => closedWithin(c, HEADERS_MS + 2500, 'silent connection')));
});

test('headers dribbled a byte at a time are cut', async () => {
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const dribble = setInterval(() => c.socket.write('a'), 100);
  try {
    await closedWithin(c, HEADERS_MS + 2500, 'dribbling connection');
  } finally {
    clearInterval(dribble);
  }
});

test('a kept-alive connection is closed after the keep-alive timeout', async () => {
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await closedWithin(c, KEEPALIVE_MS + 2500, 'kept-alive connection');
  assert.match(c.received(), /^HTTP\/1\.1 200/, 'the request was answered first');
});
