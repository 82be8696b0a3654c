import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Pool } from 'undici';
import { runEdgecert } from '../test/helpers/process.js';
import { makeTestPki, type Leaf } from '../test/helpers/pki.js';
import { Metrics } from '../src/lib/metrics.js';
import { cpuSeconds, pin, saveResults, say } from './lib.js';

/**
 * `npm run bench -- ops` (issue 19): what the audit log and the metrics cost.
 * - PUT-replace throughput of one API server with the audit log and one without
 *   (EDGECERT_AUDIT_LOG=off), both pinned to core 0 and measured in alternating rounds from
 *   core 1; the ratio is the audit log's cost (goal ≤ 5 %). The metrics are on in both: their
 *   part of a request is one histogram observation, timed below.
 * - Per handshake: the counter increment the edge makes, against a full TLS handshake measured
 *   in the same process and run.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HOSTNAMES = 200;



async function server(pki: Awaited<ReturnType<typeof makeTestPki>>, auditLog: boolean) {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-ops-'));
  const trust = path.join(dir, 'trust.pem');
  writeFileSync(trust, pki.trustPem);
  const token = randomBytes(32).toString('base64url');
  const child = runEdgecert(['serve', '--role', 'api', '--api-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dir,
    EDGECERT_BOOTSTRAP_TOKEN: token,
    EDGECERT_TRUST_CA_FILE: trust,
    EDGECERT_LOG_LEVEL: 'warn',
    EDGECERT_AUDIT_LOG: auditLog ? 'on' : 'off',
    // Pinned to one core below: validation threads would only share it.
    EDGECERT_VALIDATION_THREADS: '0',
  });
  const url = (await child.waitFor(/API listening on (\S+)\/client\/v4/))[1]!;
  pin(child.child.pid!, 0);
  const pool = new Pool(url, { connections: 8 });
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await pool.request({ method: method as 'GET', path: `/client/v4${p}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    const json = (await res.body.json()) as any;
    if (res.statusCode >= 300) throw new Error(`${method} ${p}: ${res.statusCode} ${JSON.stringify(json.errors)}`);
    return json;
  };
  const accountId = (await api('GET', '/accounts')).result[0].id;
  const zoneId = (await api('POST', '/zones', { name: 'ops.bench', account: { id: accountId } })).result.id;
  return { dir, child, pool, api, zoneId };
}

export async function benchOps(): Promise<void> {
  say(`ops: PUT-replace with and without the audit log, ${ROUNDS} alternating rounds of ${SECONDS} s; servers on core 0, load from core 1`);
  pin(process.pid, 1);
  const pki = await makeTestPki();
  const seed = [await pki.leaf({ hosts: ['*.ops.bench'], keyType: 'rsa' }), await pki.leaf({ hosts: ['*.ops.bench'], keyType: 'ecdsa' })];
  const replacements: Leaf[] = [];
  for (let i = 0; i < 8; i++) replacements.push(await pki.leaf({ hosts: ['*.ops.bench'], keyType: 'ecdsa' }));
  // BENCH_OPS_SAME=1: both servers with the audit log, to see the bench's own bias (should read ~1.0).
  const servers = { on: await server(pki, true), off: await server(pki, process.env.BENCH_OPS_SAME === '1') };
  try {
    const hosts: Record<string, Array<{ id: string; packId: string; ecdsa: string }>> = { on: [], off: [] };
    for (const [name, s] of Object.entries(servers)) {
      for (let i = 0; i < HOSTNAMES; i++) {
        const h = (await s.api('POST', `/zones/${s.zoneId}/custom_hostnames`, { hostname: `h${i}.ops.bench`, ssl: { custom_cert_bundle: seed.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) } })).result;
        hosts[name]!.push({ id: h.id, packId: h.ssl.id, ecdsa: h.ssl.certificates.find((c: any) => c.key_type === 'ecdsa').id });
      }
    }
    const measure = async (name: 'on' | 'off') => {
      const s = servers[name];
      let n = 0;
      const deadline = Date.now() + SECONDS * 1000;
      const cpu0 = cpuSeconds(s.child.child.pid!);
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < deadline) {
            const i = n++;
            const h = hosts[name]![i % HOSTNAMES]!;
            const leaf = replacements[i % replacements.length]!;
            await s.api('PUT', `/zones/${s.zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.packId}/certificates/${h.ecdsa}`, { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem });
          }
        }),
      );
      return { perSecond: n / SECONDS, cpuMs: ((cpuSeconds(s.child.child.pid!) - cpu0) * 1000) / n };
    };
    await measure('on');
    await measure('off'); // warm-up, unmeasured
    const rounds: Array<{ on: { perSecond: number; cpuMs: number }; off: { perSecond: number; cpuMs: number } }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Which goes first alternates: on these machines the second of two back-to-back phases runs differently.
      const [first, second] = r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      const a = await measure(first);
      const b = await measure(second);
      const on = first === 'on' ? a : b;
      const off = first === 'on' ? b : a;
      rounds.push({ on, off });
      say(`  round ${r + 1}: with the audit log ${on.perSecond.toFixed(0)} PUT/s (${on.cpuMs.toFixed(2)} ms CPU each), without ${off.perSecond.toFixed(0)} PUT/s (${off.cpuMs.toFixed(2)} ms) → ${(on.perSecond / off.perSecond).toFixed(3)}`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const throughput = median(rounds.map((r) => r.on.perSecond / r.off.perSecond));
    const cpu = median(rounds.map((r) => r.on.cpuMs / r.off.cpuMs));
    say(`PUT throughput with / without the audit log, median of ${ROUNDS} rounds: ${throughput.toFixed(3)} (goal ≥ 0.95); server CPU per PUT ${cpu.toFixed(3)}×`);

    // The metrics' share, in this process: per request one histogram observation; per handshake one counter increment.
    const metrics = new Metrics();
    const N = 1_000_000;
    let t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) metrics.apiRequests.observe({ route: '/client/v4/zones/:zone_id/custom_hostnames/:custom_hostname_id', method: 'PUT', status: '200' }, 0.001);
    const observeNs = Number(process.hrtime.bigint() - t) / N;
    t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) metrics.handshakes.inc({ result: 'ok', key_type: i & 1 ? 'rsa' : 'ecdsa', tls_version: 'TLSv1.3' });
    const incNs = Number(process.hrtime.bigint() - t) / N;
    const handshakeMs = await handshakeCpuMs(seed[1]!);
    const putMs = median(rounds.map((r) => r.on.cpuMs));
    say(`metrics: ${observeNs.toFixed(0)} ns per API request (${((observeNs / 1e6 / putMs) * 100).toFixed(3)} % of a PUT's server CPU), ${incNs.toFixed(0)} ns per handshake (${((incNs / 1e6 / handshakeMs) * 100).toFixed(4)} % of a full ECDSA handshake's ${handshakeMs.toFixed(2)} ms CPU, client and server, measured here)`);
    say(`results: ${saveResults('ops', { rounds, throughputRatio: throughput, cpuRatio: cpu, metrics: { observeNs, incNs, handshakeMs, putMs } })}`);
  } finally {
    for (const s of Object.values(servers)) {
      await s.pool.close();
      s.child.child.kill('SIGTERM');
      await s.child.exited;
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

/** CPU of one full TLS 1.3 handshake (both ends, in this process) with an ECDSA certificate. */
async function handshakeCpuMs(leaf: Leaf): Promise<number> {
  const srv = tls.createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (s) => s.end());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });
  for (let i = 0; i < 50; i++) await once();
  const cpu0 = process.cpuUsage();
  const n = 300;
  for (let i = 0; i < n; i++) await once();
  const used = process.cpuUsage(cpu0);
  srv.close();
  return (used.user + used.system) / 1000 / n;
}

