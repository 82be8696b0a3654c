import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runEdgecert } from '../test/helpers/process.js';
import { makeLeaf, makeRoot, makeTestPki } from '../test/helpers/pki.js';
import { startEchoOrigin } from '../test/helpers/tls.js';
import { say, saveResults } from './lib.js';

/**
 * `npm run bench -- hostile` (also `npm run stress`): one edgecert process (API + edge) on
 * loopback, and one client sending each hostile input the adversarial review found, a phase at
 * a time, while another loop asks `GET /healthz` every 20 ms. Reports, per phase, what the
 * attack achieved and how /healthz fared. Bounded: about PHASE_SECONDS per phase, a minute or
 * two in all; every address is 127.0.0.1.
 */
const PHASE_SECONDS = Number(process.env.STRESS_PHASE_SECONDS ?? 4);
const TOKEN = 's'.repeat(43);

interface PhaseResult {
  phase: string;
  attack: string;
  healthz: { probes: number; failures: number; p50ms: number; p99ms: number; maxMs: number };
}

export async function benchHostile(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-stress-'));
  const pki = await makeTestPki();
  writeFileSync(path.join(dir, 'trust.pem'), pki.trustPem);
  const origin = await startEchoOrigin();
  const server = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dir,
    EDGECERT_BOOTSTRAP_TOKEN: TOKEN,
    EDGECERT_TRUST_CA_FILE: path.join(dir, 'trust.pem'),
    EDGECERT_ORIGIN_SCHEME: 'http',
    EDGECERT_ORIGIN_PORT: String(origin.port),
    EDGECERT_LOG_LEVEL: 'warn',
    // Short enough that the idle phases see the timeouts act within the phase.
    EDGECERT_HEADERS_TIMEOUT: '2s',
    EDGECERT_KEEPALIVE_TIMEOUT: '2s',
  });
  const results: PhaseResult[] = [];
  try {
    const api = (await server.waitFor(/API listening on (\S+)/))[1]!;
    const edge = (await server.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
    const base = api.replace('/client/v4', '');
    const [edgeHost, edgePortText] = [edge.slice(0, edge.lastIndexOf(':')), edge.slice(edge.lastIndexOf(':') + 1)];
    const edgePort = Number(edgePortText);
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(api + p, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: res.status, body: (await res.json().catch(() => null)) as any };
    };
    const account = (await call('GET', '/accounts')).body.result[0].id;
    const zone = (await call('POST', '/zones', { name: 'stress-saas.com', account: { id: account } })).body.result.id;
    await call('PUT', `/zones/${zone}/custom_hostnames/fallback_origin`, { origin: 'localhost' });
    for (const host of ['open.stress.test', 'locked.stress.test']) {
      const leaf = await pki.leaf({ hosts: [host], keyType: 'ecdsa' });
      await call('POST', `/zones/${zone}/custom_hostnames`, { hostname: host, ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
    }
    const clientCa = await makeRoot('Stress Client CA');
    const caId = (await call('POST', `/accounts/${account}/mtls_certificates`, { ca: true, certificates: clientCa.pem })).body.result.id;
    await call('PUT', `/zones/${zone}/certificate_authorities/hostname_associations`, { mtls_certificate_id: caId, hostnames: ['locked.stress.test'] });
    await new Promise((r) => setTimeout(r, 500));

    /** Runs `attack` for PHASE_SECONDS while probing /healthz; the attack returns its own summary. */
    const phase = async (name: string, attack: (until: number) => Promise<string>) => {
      const latencies: number[] = [];
      let failures = 0;
      let probing = true;
      const prober = (async () => {
        while (probing) {
          const t = performance.now();
          const ok = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
          if (ok) latencies.push(performance.now() - t);
          else failures++;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const summary = await attack(Date.now() + PHASE_SECONDS * 1000);
      probing = false;
      await prober;
      latencies.sort((a, b) => a - b);
      const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
      const r: PhaseResult = { phase: name, attack: summary, healthz: { probes: latencies.length + failures, failures, p50ms: q(0.5), p99ms: q(0.99), maxMs: latencies.at(-1) ?? NaN } };
      results.push(r);
      say(`${name.padEnd(46)} /healthz p50 ${r.healthz.p50ms.toFixed(1)} ms, p99 ${r.healthz.p99ms.toFixed(1)} ms, max ${r.healthz.maxMs.toFixed(1)} ms, ${failures} failed of ${r.healthz.probes} — ${summary}`);
    };
    const repeat = async (until: number, concurrency: number, op: () => Promise<string>) => {
      const outcomes = new Map<string, number>();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < until) {
            const o = await op().catch((err: Error) => `error ${err.message}`);
            outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
          }
        }),
      );
      return [...outcomes].map(([o, n]) => `${n}× ${o}`).join(', ');
    };
    const rawTcp = (payload: Buffer | string, readReply = false) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(edgePort, edgeHost);
        const started = Date.now();
        socket.on('error', () => undefined);
        socket.once('connect', () => socket.write(payload));
        socket.once('close', () => resolve(readReply ? `closed after ${Math.round((Date.now() - started) / 100) * 100} ms` : 'closed'));
        socket.setTimeout(10_000, () => socket.destroy());
      });

    await phase('baseline (no attack)', async (until) => {
      await new Promise((r) => setTimeout(r, until - Date.now()));
      return 'idle';
    });

    // 1. A 65 KB ClientHello in one-byte records (the review's 10,900-record hello).
    await phase('ClientHello in 1-byte records', (until) => {
      const header = Buffer.from([0x01, 0x00, 0xff, 0xfc]); // handshake type ClientHello, 65532 bytes
      const body = Buffer.concat([header, Buffer.alloc(65532, 0x41)]);
      const records = Buffer.concat(Array.from(body, (byte) => Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, byte])));
      return repeat(until, 2, () => rawTcp(records));
    });

    // 2. ~55k PEM BEGIN markers in a certificate, a key and an mTLS upload (1 MiB bodies).
    const markers = '-----BEGIN X-----\n'.repeat(55_000);
    const good = await pki.leaf({ hosts: ['pem.stress.test'], keyType: 'ecdsa' });
    await phase('55k PEM BEGIN markers (1 MiB bodies)', (until) => {
      let i = 0;
      return repeat(until, 2, async () => {
        const which = i++ % 3;
        const res =
          which === 2
            ? await call('POST', `/accounts/${account}/mtls_certificates`, { ca: true, certificates: markers })
            : await call('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'pem.stress.test', ssl: which === 0 ? { custom_certificate: markers, custom_key: good.keyPem } : { custom_certificate: good.chainPem, custom_key: markers } });
        return `${res.status}/${res.body?.errors?.[0]?.code}`;
      });
    });

    // 3. An oversized RSA leaf (6144 bits: 16384 takes minutes to generate; the rule is the same).
    const big = await makeLeaf(pki.intermediate, { hosts: ['big.stress.test'], keyType: 'rsa', rsaBits: 6144 });
    await phase('RSA 6144-bit leaf uploads', (until) =>
      repeat(until, 2, async () => {
        const res = await call('POST', `/zones/${zone}/custom_hostnames`, { hostname: 'big.stress.test', ssl: { custom_certificate: big.chainPem, custom_key: big.keyPem } });
        return `${res.status}/${res.body?.errors?.[0]?.code}`;
      }),
    );

    // 4. Domain fronting: SNI of the open hostname, Host of the mTLS one.
    const originBefore = origin.requests;
    await phase('domain fronting (SNI open, Host locked)', async (until) => {
      const summary = await repeat(until, 4, () => fronted(edgeHost, edgePort, 'open.stress.test', 'locked.stress.test', pki.trustPem));
      return `${summary}; origin reached ${origin.requests - originBefore} times`;
    });

    // 5. Bad JSON shapes: nested metadata, a hostname object with toString, extreme pages.
    const h = (await call('GET', `/zones/${zone}/custom_hostnames?hostname=open.stress.test`)).body.result[0].id;
    const deep = `{"custom_metadata":${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}}`;
    await phase('nested metadata, toString, page=1e308', (until) => {
      let i = 0;
      return repeat(until, 2, async () => {
        const which = i++ % 3;
        const res =
          which === 0
            ? await call('PATCH', `/zones/${zone}/custom_hostnames/${h}`, deep)
            : which === 1
              ? await call('PATCH', `/zones/${zone}/custom_hostnames/${h}`, { hostname: { toString: '' } })
              : await call('GET', `/zones/${zone}/custom_hostnames?page=1e308`);
        return `${res.status}`;
      });
    });

    // 6. Silent and dribbling connections: 1000 to the edge (one address: the per-IP cap) and 1000 to the API.
    await phase('1000 silent edge + 1000 silent API connections', async (until) => {
      const apiUrl = new URL(base);
      const open = (port: number, host: string) =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(port, host);
          s.on('error', () => undefined);
          s.resume(); // read, so that the server's close is seen
          s.once('connect', () => resolve(s));
          s.once('close', () => resolve(s));
        });
      const edgeSockets = await Promise.all(Array.from({ length: 1000 }, () => open(edgePort, edgeHost)));
      const apiSockets = await Promise.all(Array.from({ length: 1000 }, () => open(Number(apiUrl.port), apiUrl.hostname)));
      await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())));
      const stillOpen = (list: net.Socket[]) => list.filter((s) => !s.destroyed && s.readyState === 'open').length;
      const summary = `after ${PHASE_SECONDS} s: ${stillOpen(edgeSockets)} edge and ${stillOpen(apiSockets)} API connections still open`;
      for (const s of [...edgeSockets, ...apiSockets]) s.destroy();
      return summary;
    });

    await phase('headers dribbled a byte every 100 ms (50 at once)', async (until) => {
      const dribblers = Array.from({ length: 50 }, () =>
        new Promise<number>((resolve) => {
          const started = Date.now();
          const socket = tls.connect({ host: edgeHost, port: edgePort, servername: 'open.stress.test', ca: pki.trustPem });
          socket.on('error', () => undefined);
          let timer: NodeJS.Timeout | undefined;
          socket.once('secureConnect', () => {
            socket.write('GET / HTTP/1.1\r\nHost: open.stress.test\r\nX-Slow: ');
            timer = setInterval(() => socket.write('a'), 100);
          });
          socket.once('close', () => {
            clearInterval(timer);
            resolve(Date.now() - started);
          });
          setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
        }),
      );
      const lifetimes = (await Promise.all(dribblers)).sort((a, b) => a - b);
      return `closed by the server after ${lifetimes[0]}–${lifetimes.at(-1)} ms (headers timeout 2 s)`;
    });

    say(`results: ${saveResults('hostile', results)}`);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One HTTP/1.1 request on a TLS connection opened for `sni`, addressed to `host`: the status line. */
function fronted(host: string, port: number, sni: string, hostHeader: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, servername: sni, ca });
    let reply = '';
    socket.on('error', (err) => resolve(`error ${err.message}`));
    socket.once('secureConnect', () => socket.write(`GET /secret HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d) => (reply += d));
    socket.once('close', () => resolve(reply.split('\r\n')[0] || 'no answer'));
  });
}
