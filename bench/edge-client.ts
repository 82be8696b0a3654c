import tls from 'node:tls';
import https from 'node:https';

/**
 * Load generator for bench/edge.ts, run in its own process pinned to the other core. Sends SNI,
 * verifies nothing (client CPU is not what is measured). Full handshakes never resume (no session
 * is passed back); `resume` takes one ticket, then offers it on every connection and counts
 * the handshakes that were not resumed as failures. Prints one JSON line of results.
 */
const args = JSON.parse(process.argv[2]!) as {
  address: string;
  mode: 'cold' | 'handshake' | 'resume' | 'keepalive';
  sigalgs?: 'ecdsa' | 'rsa';
  seconds?: number;
  concurrency: number;
  hosts?: number;
  count?: number;
};
const i = args.address.lastIndexOf(':');
const host = args.address.slice(0, i);
const port = Number(args.address.slice(i + 1));
const SIGALGS = { ecdsa: 'ecdsa_secp256r1_sha256', rsa: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' };

function handshakeOnce(servername: string, session?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      servername,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      session,
      ...(args.sigalgs ? { sigalgs: SIGALGS[args.sigalgs] } : {}),
    });
    socket.once('secureConnect', () => {
      const resumed = socket.isSessionReused();
      socket.destroy();
      resolve(session ? resumed : true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One ticket for `servername` (TLS 1.3 sends it after the handshake). */
function ticketFor(servername: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(args.sigalgs ? { sigalgs: SIGALGS[args.sigalgs] } : {}) });
    socket.once('session', (session) => {
      socket.destroy();
      resolve(session);
    });
    socket.resume();
    socket.once('error', reject);
  });
}

const latencies: number[] = [];
let failures = 0;
const start = process.hrtime.bigint();

async function timed(op: () => Promise<boolean>) {
  const t = process.hrtime.bigint();
  const ok = await op();
  if (ok) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  else failures++;
}

if (args.mode === 'cold') {
  for (let n = 0; n < args.count!; n++) await timed(() => handshakeOnce(`t${n}.bench.test`));
} else if (args.mode === 'resume') {
  const session = await ticketFor('t0.bench.test');
  const end = Date.now() + args.seconds! * 1000;
  await Promise.all(Array.from({ length: args.concurrency }, async () => { while (Date.now() < end) await timed(() => handshakeOnce('t0.bench.test', session)); }));
} else if (args.mode === 'handshake') {
  const end = Date.now() + args.seconds! * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (Date.now() < end) await timed(() => handshakeOnce(`t${n++ % args.hosts!}.bench.test`));
    }),
  );
} else {
  const agent = new https.Agent({ keepAlive: true, maxSockets: args.concurrency, rejectUnauthorized: false });
  const end = Date.now() + args.seconds! * 1000;
  const get = () =>
    new Promise<boolean>((resolve) => {
      const req = https.request({ host, port, servername: 't1.bench.test', headers: { host: 't1.bench.test' }, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  await Promise.all(Array.from({ length: args.concurrency }, async () => { while (Date.now() < end) await timed(get); }));
  agent.destroy();
}

const seconds = Number(process.hrtime.bigint() - start) / 1e9;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(JSON.stringify({ ops: latencies.length, seconds, failures, p50ms: q(0.5), p99ms: q(0.99) }));
