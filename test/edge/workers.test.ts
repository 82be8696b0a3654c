import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { runEdgecert, type Spawned } from '../helpers/process.js';
import { removeDir } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { eventually } from '../helpers/eventually.js';
import { splitAddress, startEchoOrigin } from '../helpers/tls.js';

/**
 * `edgecert serve` with EDGECERT_EDGE_WORKERS=2: the API in one process, the edge in two
 * workers sharing the listener. Which worker holds a connection is read from the kernel
 * (`ss -tnp`), so each claim about "another worker" is checked, not assumed.
 */
const TOKEN = 'w'.repeat(43);
let pki: TestPki;
let origin: Awaited<ReturnType<typeof startEchoOrigin>>;
let dataDir: string;
let server: Spawned;
let api: string;
let edge: string;
let zoneId: string;

const call = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(api + p, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

async function createHostname(hostname: string) {
  const leaf = await pki.leaf({ hosts: [hostname], keyType: 'ecdsa' });
  const res = await call('POST', `/zones/${zoneId}/custom_hostnames`, { hostname, ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

const workerPids = () => (/(\d+) edge workers \(pids ([\d, ]+)\)/.exec(server.stdout())?.[2] ?? '').split(', ').map(Number);

/** The pid of the process holding the server side of the connection from local `port`. */
function ownerOf(clientPort: number): number {
  const edgePort = splitAddress(edge)[1];
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${edgePort} and dport = :${clientPort} )`]).toString();
  return Number(/pid=(\d+)/.exec(out)?.[1] ?? NaN);
}

interface Held {
  socket: tls.TLSSocket;
  pid: number;
  reused: boolean;
  session?: Buffer;
  /** One HTTP/1.1 request on the held connection: its status, or 0 if the connection is gone. */
  get(path?: string): Promise<number>;
}

/** A TLS connection kept open, with the worker that holds it. */
function hold(servername: string, session?: Buffer): Promise<Held> {
  const [host, port] = splitAddress(edge);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername, ca: pki.trustPem, session, minVersion: 'TLSv1.3' });
    let ticket: Buffer | undefined;
    socket.on('session', (s) => (ticket = s));
    socket.once('error', reject);
    socket.once('secureConnect', async () => {
      await new Promise((r) => setTimeout(r, 30)); // the TLS 1.3 ticket follows the handshake
      let buffered = '';
      socket.on('data', (d) => (buffered += d));
      resolve({
        socket,
        pid: ownerOf(socket.localPort!),
        reused: socket.isSessionReused(),
        session: ticket,
        get: (p = '/') =>
          new Promise<number>((done) => {
            if (socket.destroyed) return done(0);
            buffered = '';
            socket.write(`GET ${p} HTTP/1.1\r\nHost: ${servername}\r\n\r\n`);
            const started = Date.now();
            const poll = () => {
              const m = /^HTTP\/1\.1 (\d+)[\s\S]*\r\n\r\n/.exec(buffered);
              if (m) return done(Number(m[1]));
              if (socket.destroyed || Date.now() - started > 5000) return done(0);
              setTimeout(poll, 10);
            };
            poll();
          }),
      });
    });
  });
}

before(async () => {
  pki = await makeTestPki();
  origin = await startEchoOrigin();
  dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-workers-'));
  writeFileSync(path.join(dataDir, 'trust.pem'), pki.trustPem);
  server = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dataDir,
    EDGECERT_BOOTSTRAP_TOKEN: TOKEN,
    EDGECERT_TRUST_CA_FILE: path.join(dataDir, 'trust.pem'),
    EDGECERT_ORIGIN_SCHEME: 'http',
    EDGECERT_ORIGIN_PORT: String(origin.port),
    EDGECERT_EDGE_WORKERS: '2',
    EDGECERT_LOG_LEVEL: 'info',
  });
  api = (await server.waitFor(/API listening on (\S+)/))[1]!;
  edge = (await server.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
  await server.waitFor(/2 edge workers/);
  const account = (await call('GET', '/accounts')).body.result[0].id;
  zoneId = (await call('POST', '/zones', { name: 'workers-saas.com', account: { id: account } })).body.result.id;
  await call('PUT', `/zones/${zoneId}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
});
after(async () => {
  if (server.child.exitCode === null) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  await origin.close();
  removeDir(dataDir);
});

test('two workers besides the API process; a hostname created through the API is served by both within 1 s', async () => {
  const pids = workerPids();
  assert.equal(pids.length, 2);
  assert.ok(!pids.includes(server.child.pid!), 'the edge is not in the API’s process');
  await createHostname('new.workers.test');
  await new Promise((r) => setTimeout(r, 1000));
  const held = await Promise.all(Array.from({ length: 24 }, () => hold('new.workers.test')));
  const byPid = new Map<number, number>();
  for (const h of held) byPid.set(h.pid, (byPid.get(h.pid) ?? 0) + 1);
  assert.deepEqual([...byPid.keys()].sort(), [...pids].sort(), `connections by worker: ${JSON.stringify([...byPid])}`);
  assert.deepEqual(await Promise.all(held.map((h) => h.get())), held.map(() => 200));
  for (const h of held) h.socket.destroy();
});

test('a ticket issued by one worker resumes on the other', async () => {
  await createHostname('resume.workers.test');
  await new Promise((r) => setTimeout(r, 1000));
  const first = await hold('resume.workers.test');
  assert.ok(first.session, 'a ticket');
  first.socket.destroy();
  const other = await eventually(
    () => hold('resume.workers.test', first.session).then((h) => (h.socket.destroy(), h)),
    (h) => h.pid !== first.pid,
    'a connection that lands on the other worker',
  );
  assert.equal(other.reused, true, `issued by ${first.pid}, resumed by ${other.pid}`);
});

test('a killed worker is replaced; the other worker’s connections keep serving', async () => {
  const pids = workerPids();
  const held: Held[] = [];
  for (let i = 0; i < 40 && new Set(held.map((h) => h.pid)).size < 2; i++) held.push(await hold('new.workers.test'));
  const victim = held.find((h) => h.pid === pids[0])!;
  const survivor = held.find((h) => h.pid === pids[1])!;
  assert.ok(victim && survivor, 'a connection on each worker');
  process.kill(pids[0]!, 'SIGKILL');
  await server.waitFor(/edge worker restarted/, 15_000);
  assert.equal(await survivor.get('/after-kill'), 200, 'the other worker’s connection still serves');
  assert.equal(await victim.get(), 0, 'the killed worker’s connection is gone');
  assert.match(server.stdout(), /edge worker exited; starting another/);
  // New connections are all served (by the survivor and the replacement).
  const fresh = await Promise.all(Array.from({ length: 10 }, () => hold('new.workers.test')));
  assert.deepEqual(await Promise.all(fresh.map((h) => h.get())), fresh.map(() => 200));
  assert.ok(fresh.every((h) => h.pid !== pids[0]));
  for (const h of [...held, ...fresh]) h.socket.destroy();
});

test('SIGTERM drains: a request in flight on a worker finishes, then every process exits 0', async () => {
  const conn = await hold('new.workers.test');
  const pending = conn.get('/slow/800');
  await new Promise((r) => setTimeout(r, 200));
  const pids = [...new Set([...workerPids(), conn.pid])];
  server.child.kill('SIGTERM');
  assert.equal(await pending, 200, 'the request in flight was answered');
  assert.equal(await server.exited, 0);
  await eventually(
    async () => pids.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } }),
    (alive) => alive.length === 0,
    'no worker left behind',
  );
});

test('a worker that does not start listening within EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT is killed, and serve fails naming the variable', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-workers-hung-'));
  try {
    // 100 ms: less than a worker needs to start Node, open the database and load the index.
    const hung = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], {
      EDGECERT_DATA_DIR: dir,
      EDGECERT_BOOTSTRAP_TOKEN: TOKEN,
      EDGECERT_EDGE_WORKERS: '2',
      EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT: '100ms',
    });
    const code = await hung.exited;
    assert.notEqual(code, 0);
    assert.match(hung.stdout() + hung.stderr(), /did not start listening within EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT/);
    assert.match(hung.stdout() + hung.stderr(), /exited \(SIGKILL\) before it listened/);
    assert.doesNotMatch(hung.stdout(), /edge listening on/);
  } finally {
    removeDir(dir);
  }
});
