import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/storage/connect.js';
import { KeyVault, loadMasterKey } from '../src/storage/crypto.js';
import { isoTimestamp } from '../src/lib/clock.js';
import type { CustomHostnamesTable, PackCertificatesTable } from '../src/storage/schema.js';
import { runEdgecert } from '../test/helpers/process.js';
import { makeTestPki } from '../test/helpers/pki.js';
import { cpuSeconds, pin, say, saveResults } from './lib.js';

/**
 * `npm run bench -- edge`: edgecert's edge against nginx serving the same certificates, in the
 * same run. Server pinned to core 0, load generator (bench/edge-client.ts) to core 1.
 */
const HOSTNAMES = Number(process.env.BENCH_EDGE_HOSTNAMES ?? 100_000);
const CONTEXTS = Number(process.env.BENCH_EDGE_CONTEXTS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));

/** CPU seconds of several processes together (a process gone counts nothing). */
const cpuSecondsOf = (pids: number[]) => pids.reduce((total, pid) => total + (cpuSeconds(pid) || 0), 0);

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

interface ClientResult {
  ops: number;
  seconds: number;
  failures: number;
  p50ms: number;
  p99ms: number;
}

/** Runs the load generator in its own process on core 1. */
function client(args: Record<string, string | number>): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '1', process.execPath, '--import', 'tsx', path.join(here, 'edge-client.ts'), JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`client exited ${code}: ${out}`))));
  });
}

/** Measures one phase: the client's figures and the server CPU it cost. */
async function phase(name: string, serverPids: number[], args: Record<string, string | number>) {
  const before = cpuSecondsOf(serverPids);
  const r = await client(args);
  const cpuMs = ((cpuSecondsOf(serverPids) - before) / r.ops) * 1000;
  say(
    `${name.padEnd(44)} ${(r.ops / r.seconds).toFixed(0).padStart(7)} /s   p50 ${r.p50ms.toFixed(2)} ms   p99 ${r.p99ms.toFixed(2)} ms   server CPU ${cpuMs.toFixed(3)} ms/op${r.failures ? `   failures ${r.failures}` : ''}`,
  );
  return { ...r, perSecond: r.ops / r.seconds, serverCpuMs: cpuMs };
}

export async function benchEdge(): Promise<void> {
  say(`edge: ${HOSTNAMES} hostnames indexed, ${CONTEXTS} TLS contexts warmed, ${SECONDS} s per measurement`);
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-bench-edge-'));
  const pki = await makeTestPki();
  const rsa = await pki.leaf({ hosts: ['*.bench.test'], keyType: 'rsa' });
  const ecdsa = await pki.leaf({ hosts: ['*.bench.test'], keyType: 'ecdsa' });
  const results: Record<string, unknown> = { hostnames: HOSTNAMES, contexts: CONTEXTS };

  // An origin for the keep-alive phase (in the load generator's core).
  const origin = spawn('taskset', ['-c', '1', process.execPath, '-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const originPort = Number(await new Promise<string>((r) => origin.stdout!.once('data', (d) => r(String(d).trim()))));

  // Seed the database directly (100k hostnames through the API would take minutes).
  const seedStart = Date.now();
  const store = await openStore(`sqlite:${path.join(dir, 'edgecert.db')}`);
  await store.migrate();
  const vault = new KeyVault(loadMasterKey(undefined, dir).key);
  const now = isoTimestamp(new Date());
  const accountId = randomBytes(16).toString('hex');
  const zoneId = randomBytes(16).toString('hex');
  await store.db.insertInto('accounts').values({ id: accountId, name: 'default', type: 'standard', created_on: now }).execute();
  await store.db.insertInto('zones').values({ id: zoneId, account_id: accountId, name: 'bench-saas.com', status: 'active', type: 'full', paused: 0, created_on: now, modified_on: now, activated_on: now }).execute();
  const BATCH = 500;
  for (let start = 0; start < HOSTNAMES; start += BATCH) {
    const hosts: CustomHostnamesTable[] = [];
    const certs: PackCertificatesTable[] = [];
    for (let i = start; i < Math.min(HOSTNAMES, start + BATCH); i++) {
      const id = crypto.randomUUID();
      const packId = crypto.randomUUID();
      hosts.push({
        id, zone_id: zoneId, hostname: `t${i}.bench.test`, custom_metadata: null, custom_origin_server: 'localhost', custom_origin_sni: null,
        status: 'active', verification_token: id, http_token: id, created_at: now, updated_at: now, ssl_pack_id: packId, ssl_method: null,
        ssl_type: 'dv', ssl_bundle_method: 'ubiquitous', ssl_certificate_authority: null, ssl_custom_csr_id: null, ssl_cloudflare_branding: 0,
        ssl_wildcard: 0, ssl_settings: '{}', ssl_status: 'active', ssl_validation_records: null, ssl_validation_errors: null, verification_errors: null,
      });
      for (const [keyType, leaf] of [['rsa', rsa], ['ecdsa', ecdsa]] as const) {
        const certId = crypto.randomUUID();
        const sealed = vault.encrypt(leaf.keyPem, certId);
        certs.push({
          id: certId, pack_id: packId, custom_hostname_id: id, key_type: keyType, certificate: leaf.chainPem, chain: '', key_ciphertext: sealed.ciphertext,
          key_id: sealed.keyId, issuer: 'edgecert Test CA', serial_number: '1', signature: 'ECDSAWithSHA256', expires_on: now, issued_on: now,
          uploaded_on: now, fingerprint_sha256: '', hosts: '["*.bench.test"]',
        });
      }
    }
    await store.transaction(async (trx) => {
      await trx.insertInto('custom_hostnames').values(hosts).execute();
      await trx.insertInto('pack_certificates').values(certs).execute();
    });
  }
  await store.close();
  say(`seeded ${HOSTNAMES} hostnames with RSA + ECDSA packs in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  // BENCH_EDGE_PHASES=workers: only the one-worker / N-worker comparison (a quieter re-run of it).
  if (process.env.BENCH_EDGE_PHASES === 'workers') {
    try {
      const workers = Number(process.env.BENCH_EDGE_WORKERS ?? 2);
      const single = await benchWorkers(dir, originPort, 1);
      const many = await benchWorkers(dir, originPort, workers);
      say(`server CPU per full handshake, unpinned, ${workers} workers / 1 worker: ${(many.full.serverCpuMs / single.full.serverCpuMs).toFixed(2)} (goal ≤ 1.1); resumed: ${(many.resumed.serverCpuMs / single.resumed.serverCpuMs).toFixed(2)}`);
      say(`results: ${saveResults('edge', { ...results, workers: { single, many } })}`);
    } finally {
      origin.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }

  // edgecert, edge role only.
  const started = Date.now();
  const edge = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dir,
    EDGECERT_ORIGIN_SCHEME: 'http',
    EDGECERT_ORIGIN_PORT: String(originPort),
    EDGECERT_LOG_LEVEL: 'warn',
    EDGECERT_TLS_CACHE_SIZE: String(CONTEXTS + 1000),
    // One process: pinned to core 0 and measured alone (benchWorkers measures several).
    EDGECERT_EDGE_WORKERS: '1',
  }, process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []);
  let nginx: ChildProcess | undefined;
  try {
    const address = (await edge.waitFor(/edge listening on (\S+) \(TLS\)/, 300_000))[1]!;
    const readySeconds = (Date.now() - started) / 1000;
    const pid = edge.child.pid!;
    pin(pid, 0);
    const rssIndexed = rssMiB(pid);
    const indexLine = /indexed (\d+) hostnames in (\d+) ms \(heap \+([\d.]+) MiB\)/.exec(edge.stdout());
    const indexBytes = indexLine ? (Number(indexLine[3]) * 1024 * 1024) / Math.max(1, Number(indexLine[1])) : NaN;
    say(`edge ready with ${HOSTNAMES} hostnames indexed in ${readySeconds.toFixed(1)} s (index load ${indexLine?.[2]} ms); RSS ${rssIndexed.toFixed(0)} MiB; index heap ${indexBytes.toFixed(0)} bytes per hostname (goal ≤ 1 KB)`);
    results.indexBytesPerHostname = indexBytes;
    results.readySeconds = readySeconds;
    results.rssIndexedMiB = rssIndexed;

    // Cold misses: first handshakes for CONTEXTS distinct hostnames, one at a time.
    results.coldMiss = await phase('cold-miss handshakes (first per hostname)', [pid], { address, mode: 'cold', count: CONTEXTS, concurrency: 1 });
    // The same client, one handshake at a time, to hostnames now cached: what a handshake costs
    // this client without a miss, so the miss's own share can be told from the client's.
    results.warmSerial = await phase('same handshakes again, now cached (baseline)', [pid], { address, mode: 'cold', count: Math.min(CONTEXTS, 2000), concurrency: 1 });
    const cold = results.coldMiss as ClientResult & { serverCpuMs: number };
    const warm = results.warmSerial as ClientResult & { serverCpuMs: number };
    say(
      `cold miss p99 ${cold.p99ms.toFixed(2)} ms (goal ≤ 3 ms); a miss adds ${(cold.p50ms - warm.p50ms).toFixed(2)} ms at p50 and ${(cold.p99ms - warm.p99ms).toFixed(2)} ms at p99 ` +
        `to this client's cached handshake, and ${(cold.serverCpuMs - warm.serverCpuMs).toFixed(2)} ms of server CPU`,
    );
    const rssWarm = rssMiB(pid);
    say(`RSS with ${HOSTNAMES} indexed + ${CONTEXTS} contexts cached: ${rssWarm.toFixed(0)} MiB (${(((rssWarm - rssIndexed) * 1024) / CONTEXTS).toFixed(1)} KiB per context)`);
    results.rssWarmMiB = rssWarm;

    results.warm = await phase(`warm handshakes (${Math.min(CONTEXTS, 1000)} cached hostnames)`, [pid], { address, mode: 'handshake', seconds: SECONDS, concurrency: 8, hosts: Math.min(CONTEXTS, 1000) });
    results.edgeEcdsa = await phase('edgecert full handshakes, TLS 1.3 ECDSA', [pid], { address, mode: 'handshake', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 8, hosts: 1 });
    results.edgeRsa = await phase('edgecert full handshakes, TLS 1.3 RSA', [pid], { address, mode: 'handshake', sigalgs: 'rsa', seconds: SECONDS, concurrency: 8, hosts: 1 });
    results.edgeKeepAlive = await phase('edgecert keep-alive requests (HTTP/1.1)', [pid], { address, mode: 'keepalive', seconds: SECONDS, concurrency: 16 });
    results.edgeResumed = await phase('edgecert resumed handshakes, TLS 1.3 ECDSA', [pid], { address, mode: 'resume', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 8 });

    // A plain Node TLS server with one context and the same certificates: what Node itself costs.
    writeFileSync(path.join(dir, 'plain.json'), JSON.stringify({ key: [rsa.keyPem, ecdsa.keyPem], cert: [rsa.chainPem, ecdsa.chainPem] }));
    const plain = spawn('taskset', ['-c', '0', process.execPath, '-e', `const o=JSON.parse(require('fs').readFileSync(${JSON.stringify(path.join(dir, 'plain.json'))}));require('tls').createServer(o,(s)=>s.on('error',()=>{}).end()).listen(0,'127.0.0.1',function(){console.log(this.address().port)})`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const plainPort = Number(await new Promise<string>((r) => plain.stdout!.once('data', (d) => r(String(d).trim()))));
    results.plainEcdsa = await phase('plain Node tls.Server handshakes, TLS 1.3 ECDSA', [plain.pid!], { address: `127.0.0.1:${plainPort}`, mode: 'handshake', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 8, hosts: 1 });
    plain.kill('SIGTERM');

    // nginx with the same certificates, when installed.
    const nginxBin = spawnSync('sh', ['-c', 'command -v nginx']).stdout.toString().trim();
    if (!nginxBin) {
      say('nginx: not installed (apt-get install nginx) — baseline skipped');
    } else {
      writeFileSync(path.join(dir, 'rsa.pem'), rsa.chainPem);
      writeFileSync(path.join(dir, 'rsa.key'), rsa.keyPem);
      writeFileSync(path.join(dir, 'ecdsa.pem'), ecdsa.chainPem);
      writeFileSync(path.join(dir, 'ecdsa.key'), ecdsa.keyPem);
      // Tickets on, as edgecert issues them: full handshakes cost the ticket on both sides.
      writeFileSync(path.join(dir, 'ticket.key'), randomBytes(80));
      writeFileSync(
        path.join(dir, 'nginx.conf'),
        `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 64; }
  server { listen 127.0.0.1:0 ssl; server_name *.bench.test;
    ssl_certificate ${dir}/rsa.pem; ssl_certificate_key ${dir}/rsa.key;
    ssl_certificate ${dir}/ecdsa.pem; ssl_certificate_key ${dir}/ecdsa.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; ssl_session_tickets on; ssl_session_ticket_key ${dir}/ticket.key;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`.replace('127.0.0.1:0', `127.0.0.1:${18443 + Math.floor(Math.random() * 1000)}`),
      );
      const conf = readFileSync(path.join(dir, 'nginx.conf'), 'utf8');
      const nginxAddress = /listen (\S+) ssl/.exec(conf)![1]!;
      nginx = spawn('taskset', ['-c', '0', nginxBin, '-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1000));
      // The master (taskset execs nginx, so this is its pid) and its worker.
      const pids = [nginx.pid!, ...spawnSync('pgrep', ['-P', String(nginx.pid)]).stdout.toString().trim().split('\n').map(Number).filter(Boolean)];
      for (const p of pids) pin(p, 0);
      results.nginxEcdsa = await phase('nginx full handshakes, TLS 1.3 ECDSA', pids, { address: nginxAddress, mode: 'handshake', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 8, hosts: 1 });
      results.nginxRsa = await phase('nginx full handshakes, TLS 1.3 RSA', pids, { address: nginxAddress, mode: 'handshake', sigalgs: 'rsa', seconds: SECONDS, concurrency: 8, hosts: 1 });
      results.nginxKeepAlive = await phase('nginx keep-alive requests (HTTP/1.1)', pids, { address: nginxAddress, mode: 'keepalive', seconds: SECONDS, concurrency: 16 });
      results.nginxResumed = await phase('nginx resumed handshakes, TLS 1.3 ECDSA (shared ticket key)', pids, { address: nginxAddress, mode: 'resume', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 8 });
      const ratio = (a: unknown, b: unknown) => ((a as { serverCpuMs: number }).serverCpuMs / (b as { serverCpuMs: number }).serverCpuMs).toFixed(2);
      say(`server CPU per handshake, edgecert / nginx: ECDSA ${ratio(results.edgeEcdsa, results.nginxEcdsa)}, RSA ${ratio(results.edgeRsa, results.nginxRsa)} (goal ≤ 1.2)`);
      say(`plain Node tls.Server / nginx (ECDSA): ${ratio(results.plainEcdsa, results.nginxEcdsa)}`);
      say(`server CPU per keep-alive request, edgecert / nginx: ${ratio(results.edgeKeepAlive, results.nginxKeepAlive)}`);
      say(`server CPU per resumed handshake, edgecert / nginx: ${ratio(results.edgeResumed, results.nginxResumed)} (goal ≤ 1.2)`);
    }
    nginx?.kill('SIGTERM');
    nginx = undefined;
    edge.child.kill('SIGTERM');
    await edge.exited;
    // The same unpinned conditions for one worker and for several: CPU per handshake compared like with like.
    const workers = Number(process.env.BENCH_EDGE_WORKERS ?? 2);
    const single = await benchWorkers(dir, originPort, 1);
    const many = await benchWorkers(dir, originPort, workers);
    say(`server CPU per full handshake, unpinned, ${workers} workers / 1 worker: ${(many.full.serverCpuMs / single.full.serverCpuMs).toFixed(2)} (goal ≤ 1.1); resumed: ${(many.resumed.serverCpuMs / single.resumed.serverCpuMs).toFixed(2)}`);
    results.workers = { single, many };
    say(`results: ${saveResults('edge', results)}`);
  } finally {
    nginx?.kill('SIGTERM');
    edge.child.kill('SIGTERM');
    origin.kill('SIGTERM');
    await edge.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The same database served by `edgecert serve` with EDGECERT_EDGE_WORKERS workers (default 2)
 * and the API in the supervising process: full and resumed handshakes, server CPU summed over
 * the workers and each worker's share of it, and /healthz on the API while the edge is saturated.
 * Nothing is pinned: the workers take both cores, the load generator competes with them.
 */
async function benchWorkers(dir: string, originPort: number, workers: number) {
  const server = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dir,
    EDGECERT_ORIGIN_SCHEME: 'http',
    EDGECERT_ORIGIN_PORT: String(originPort),
    EDGECERT_LOG_LEVEL: 'warn',
    EDGECERT_EDGE_WORKERS: String(workers),
    EDGECERT_TLS_CACHE_SIZE: String(CONTEXTS + 1000),
  });
  try {
    const api = (await server.waitFor(/API listening on (\S+)/, 300_000))[1]!.replace('/client/v4', '');
    const address = (await server.waitFor(/edge listening on (\S+) \(TLS\)/, 300_000))[1]!;
    // One worker: the edge is in the serving process itself.
    const pids = workers > 1 ? (await server.waitFor(/edge workers \(pids ([\d, ]+)\)/))[1]!.split(', ').map(Number) : [server.child.pid!];
    // Warm every worker's context for t0 before measuring.
    await client({ address, mode: 'handshake', seconds: 1, concurrency: 8, hosts: 1 });
    const probe = async (seconds: number) => {
      const latencies: number[] = [];
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        const t = performance.now();
        await fetch(`${api}/healthz`).then((r) => r.arrayBuffer());
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
      latencies.sort((a, b) => a - b);
      return { p50ms: latencies[Math.floor(latencies.length / 2)]!, p99ms: latencies[Math.floor(latencies.length * 0.99)]! };
    };
    const idle = await probe(2);
    const before = pids.map((p) => cpuSecondsOf([p]));
    const [full, healthz] = await Promise.all([
      phase(`${workers} workers: full handshakes, TLS 1.3 ECDSA`, pids, { address, mode: 'handshake', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 16, hosts: 1 }),
      probe(SECONDS - 1),
    ]);
    const used = pids.map((p, i) => cpuSecondsOf([p]) - before[i]!);
    const total = used.reduce((a, b) => a + b, 0);
    const shares = used.map((u) => u / total);
    if (workers > 1) say(`${workers} workers: share of the handshake CPU per worker ${shares.map((x) => `${(x * 100).toFixed(0)} %`).join(', ')} (goal: none above 60 % with two)`);
    say(`/healthz on the API: p50 ${idle.p50ms.toFixed(2)} ms, p99 ${idle.p99ms.toFixed(2)} ms idle; p50 ${healthz.p50ms.toFixed(2)} ms, p99 ${healthz.p99ms.toFixed(2)} ms with the edge saturated (goal p99 ≤ 20 ms)`);
    const resumed = await phase(`${workers} workers: resumed handshakes, TLS 1.3 ECDSA`, pids, { address, mode: 'resume', sigalgs: 'ecdsa', seconds: SECONDS, concurrency: 16 });
    // Every hostname's first handshake, spread over the workers: each builds the contexts of the
    // connections it gets, in a cache of its own.
    await client({ address, mode: 'cold', count: CONTEXTS, concurrency: 4 });
    const rss = pids.map(rssMiB);
    say(`RSS per worker after first handshakes to ${CONTEXTS} hostnames spread over ${workers} workers: ${rss.map((r) => `${r.toFixed(0)} MiB`).join(', ')}`);
    return { count: workers, full, resumed, shares, healthzIdle: idle, healthzSaturated: healthz, rssMiB: rss };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}
