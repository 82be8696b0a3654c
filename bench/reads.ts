import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { openStore } from '../src/storage/connect.js';
import { KeyVault, loadMasterKey } from '../src/storage/crypto.js';
import { isoTimestamp } from '../src/lib/clock.js';
import { TrustStore } from '../src/pki/trust.js';
import { validateCustomCertificate } from '../src/pki/validate.js';
import type { CustomHostnamesTable, PackCertificatesTable } from '../src/storage/schema.js';
import { splitChain, type SplitChain } from '../src/storage/chains.js';
import { runEdgecert } from '../test/helpers/process.js';
import { createDatabase, startCluster, type Cluster } from '../test/helpers/postgres.js';
import { makeTestPki } from '../test/helpers/pki.js';
import { cpuSeconds, fmt, load, pin, saveResults, say, type Measured } from './lib.js';
import { HOSTNAME_HARD_CAP } from '../src/resources/custom-hostnames/service.js';

/**
 * `npm run bench -- reads`: API reads as the data grows (issue 23). For each size in
 * BENCH_READ_SIZES (default 1000,100000; up to 1000000), a SQLite database is seeded directly
 * (rows built the way the API builds them: validated certificates, sealed keys), then
 * `edgecert serve --role api` on it, pinned to core 0, is asked from core 1: GET one custom
 * hostname (random ids, so the cache is not flattered), list pages for each documented filter
 * and order, a deep page; with server CPU per request and the database's bytes per hostname.
 */
const SIZES = (process.env.BENCH_READ_SIZES ?? '1000,100000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CONCURRENCY = 4;
/** One hostname in ten has no certificate yet (pending_validation): the ssl_status filter has something to find. */
const PENDING_EVERY = 10;
/** BENCH_READ_PHASES=<text>: only the phases whose name contains it (e.g. `first page`, `GET`). */
const wanted = (name: string) => !process.env.BENCH_READ_PHASES || name.includes(process.env.BENCH_READ_PHASES);

/** A PostgreSQL database's size on disk. */
async function postgresBytes(url: string): Promise<number> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // After VACUUM ANALYZE: the planner has statistics, as on a live database (autovacuum), and dead space is not counted.
    await client.query('vacuum analyze');
    return Number((await client.query('select pg_database_size(current_database()) as n')).rows[0].n);
  } finally {
    await client.end();
  }
}

/** The database's size on disk, WAL included. */
function databaseBytes(dir: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(path.join(dir, `edgecert.db${suffix}`)).size;
    } catch {
      /* no such file */
    }
  }
  return total;
}

export async function seed(dir: string, n: number, trustFile: string, databaseUrl = `sqlite:${path.join(dir, 'edgecert.db')}`) {
  const pki = await makeTestPki();
  writeFileSync(trustFile, pki.trustPem);
  const trust = TrustStore.load(trustFile);
  const now = new Date();
  // A few certificate pairs, validated as an upload is; hostnames cycle through them.
  const pairs = [];
  for (let i = 0; i < 4; i++) {
    const [rsa, ecdsa] = [await pki.leaf({ hosts: ['*.bench.test'], keyType: 'rsa' }), await pki.leaf({ hosts: ['*.bench.test'], keyType: 'ecdsa' })];
    pairs.push(
      [rsa, ecdsa].map((leaf) => ({ leaf, v: validateCustomCertificate({ certificate: leaf.chainPem, key: leaf.keyPem, hostname: 'x.bench.test' }, trust, now) })),
    );
  }
  const store = await openStore(databaseUrl);
  await store.migrate();
  // Stored as the repository stores them: the leaf, its intermediates once (ca_certificates).
  const stored = new Map<string, SplitChain>();
  for (const pair of pairs) {
    for (const { v } of pair) {
      const split = splitChain(v.chainPem);
      stored.set(v.chainPem, split);
      for (const ca of split.intermediates) await store.db.insertInto('ca_certificates').values(ca).onConflict((oc) => oc.column('fingerprint').doNothing()).execute();
    }
  }
  const vault = new KeyVault(loadMasterKey(undefined, dir).key);
  const stamp = isoTimestamp(now);
  const accountId = randomBytes(16).toString('hex');
  const zoneId = randomBytes(16).toString('hex');
  await store.db.insertInto('accounts').values({ id: accountId, name: 'default', type: 'standard', created_on: stamp }).execute();
  await store.db.insertInto('zones').values({ id: zoneId, account_id: accountId, name: 'bench-saas.com', status: 'active', type: 'full', paused: 0, created_on: stamp, modified_on: stamp, activated_on: stamp }).execute();
  const ids: string[] = [];
  const BATCH = 500;
  const started = Date.now();
  for (let start = 0; start < n; start += BATCH) {
    const hosts: CustomHostnamesTable[] = [];
    const certs: PackCertificatesTable[] = [];
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      const id = randomUUID();
      const packId = randomUUID();
      const pending = i % PENDING_EVERY === PENDING_EVERY - 1;
      ids.push(id);
      // Created over the last 100 days, so created_at orders differ from insertion order.
      const created = isoTimestamp(new Date(now.getTime() - ((i * 7919) % 8_640_000) * 1000));
      hosts.push({
        id, zone_id: zoneId, hostname: `app${i}.customer${i % 997}.test`, custom_metadata: null, custom_origin_server: null, custom_origin_sni: null,
        status: 'active', verification_token: randomUUID(), http_token: randomUUID(), created_at: created, updated_at: created, ssl_pack_id: packId,
        ssl_method: null, ssl_type: 'dv', ssl_bundle_method: 'ubiquitous', ssl_certificate_authority: null, ssl_custom_csr_id: null,
        ssl_cloudflare_branding: 0, ssl_wildcard: 0, ssl_settings: '{}', ssl_status: pending ? 'pending_validation' : 'active', ssl_validation_records: null, ssl_validation_errors: null, verification_errors: null,
      });
      if (pending) continue;
      for (const { leaf, v } of pairs[i % pairs.length]!) {
        const certId = randomUUID();
        const sealed = vault.encrypt(leaf.keyPem, certId);
        certs.push({
          id: certId, pack_id: packId, custom_hostname_id: id, key_type: v.keyType, certificate: stored.get(v.chainPem)!.leaf, chain: stored.get(v.chainPem)!.chain, key_ciphertext: sealed.ciphertext,
          key_id: sealed.keyId, issuer: v.issuer, serial_number: v.serialNumber, signature: v.signature, expires_on: v.expiresOn, issued_on: v.issuedOn,
          uploaded_on: stamp, fingerprint_sha256: v.fingerprintSha256, hosts: JSON.stringify(v.hosts),
        });
      }
    }
    await store.transaction(async (trx) => {
      await trx.insertInto('custom_hostnames').values(hosts).execute();
      if (certs.length) await trx.insertInto('pack_certificates').values(certs).execute();
    });
  }
  await store.close();
  execFileSync('sync');
  // What a create through the API sends: the first pair as a two-certificate bundle.
  const bundle = pairs[0]!.map(({ leaf }) => ({ custom_certificate: leaf.chainPem, custom_key: leaf.keyPem }));
  return { zoneId, ids, bundle, seedSeconds: (Date.now() - started) / 1000 };
}

interface Served {
  n: number;
  dir: string;
  token: string;
  databaseUrl: string | undefined;
  zoneId: string;
  ids: string[];
  bundle: Array<{ custom_certificate: string; custom_key: string }>;
  seedSeconds: number;
  bytes: number;
  server: ReturnType<typeof runEdgecert>;
  pool: Pool;
  get(p: string): Promise<void>;
  post(p: string, body: unknown): Promise<void>;
}

/** BENCH_READ_DATABASE=postgres: the same on a throw-away PostgreSQL cluster (started once for the run). */
const ON_POSTGRES = process.env.BENCH_READ_DATABASE === 'postgres';
let cluster: Cluster | undefined;

/** `edgecert serve --role api` on a seeded data directory (and database), once it listens. */
async function startApi(dir: string, token: string, databaseUrl: string | undefined, validationThreads: string, nodeArgs: string[] = []) {
  const server = runEdgecert(['serve', '--role', 'api', '--api-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: dir,
    EDGECERT_BOOTSTRAP_TOKEN: token,
    EDGECERT_TRUST_CA_FILE: path.join(dir, 'trust.pem'),
    EDGECERT_LOG_LEVEL: 'warn',
    EDGECERT_VALIDATION_THREADS: validationThreads,
    ...(databaseUrl ? { EDGECERT_DATABASE_URL: databaseUrl } : {}),
  }, nodeArgs);
  const url = (await server.waitFor(/API listening on (\S+)\/client\/v4/, 600_000))[1]!;
  return { server, url };
}

/** GET (200) and POST (201) against the API, anything else thrown. */
function apiClient(url: string, token: string) {
  const pool = new Pool(url, { connections: 8, pipelining: 1 });
  const get = async (p: string) => {
    const res = await pool.request({ method: 'GET', path: `/client/v4${p}`, headers: { authorization: `Bearer ${token}` } });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${p}: ${res.statusCode} ${body.slice(0, 300)}`);
  };
  const post = async (p: string, body: unknown) => {
    const res = await pool.request({ method: 'POST', path: `/client/v4${p}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`POST ${p}: ${res.statusCode} ${text.slice(0, 300)}`);
  };
  return { pool, get, post };
}

async function serve(n: number, token: string): Promise<Served> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-bench-reads-'));
  const trustFile = path.join(dir, 'trust.pem');
  let databaseUrl: string | undefined;
  if (ON_POSTGRES) {
    cluster ??= await startCluster();
    databaseUrl = await createDatabase(cluster.url);
  }
  const { zoneId, ids, bundle, seedSeconds } = await seed(dir, n, trustFile, databaseUrl);
  const bytes = databaseUrl ? await postgresBytes(databaseUrl) : databaseBytes(dir);
  say(`${n} hostnames seeded directly in ${seedSeconds.toFixed(1)} s; database ${(bytes / 1048576).toFixed(0)} MiB, ${(bytes / n).toFixed(0)} bytes per hostname`);
  // Pinned to one core below: validation threads would only share it.
  const { server, url } = await startApi(dir, token, databaseUrl, '0', process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []);
  // Every server on core 0 (one is measured at a time), the load generator on core 1.
  pin(server.child.pid!, 0);
  const { pool, get, post } = apiClient(url, token);
  return { n, dir, token, databaseUrl, zoneId, ids, bundle, seedSeconds, bytes, server, pool, get, post };
}

async function measure(s: Served, name: string, op: (i: number) => Promise<void>, seconds = SECONDS) {
  const pid = s.server.child.pid!;
  const before = cpuSeconds(pid);
  const loopBefore = cpuSeconds(pid, pid);
  const m = await load(op, { seconds, concurrency: CONCURRENCY });
  const serverCpuMs = ((cpuSeconds(pid) - before) / m.ops) * 1000;
  // The main thread's own share: what the event loop spends (threads excluded), one core's worth at most.
  const loopCpuMs = ((cpuSeconds(pid, pid) - loopBefore) / m.ops) * 1000;
  say(`${`${s.n}: ${name}`.padEnd(52)} ${fmt(m)}   server CPU ${serverCpuMs.toFixed(2)} ms/request (event loop ${loopCpuMs.toFixed(2)})`);
  return { ...m, serverCpuMs, loopCpuMs };
}

/**
 * The same request one at a time: the latency one caller sees. With four at once on one core a
 * request also waits for the three others (p50 ≈ 4 × the CPU it needs), which the figure above
 * includes.
 */
async function alone(s: Served, name: string, op: (i: number) => Promise<void>, seconds = Math.max(2, SECONDS / 2)) {
  const m = await load(op, { seconds, concurrency: 1 });
  say(`${`${s.n}: ${name}, one at a time`.padEnd(52)} ${fmt(m)}`);
  return { p50ms: m.p50ms, p99ms: m.p99ms };
}

/** GET one custom hostname, a random one each time (at 100k+ its pages are mostly not in SQLite's cache). */
const getOne = (s: Served) => () => s.get(`/zones/${s.zoneId}/custom_hostnames/${s.ids[Math.floor(Math.random() * s.ids.length)]!}`);

async function lists(s: Served) {
  const base = `/zones/${s.zoneId}/custom_hostnames`;
  const pages = Math.max(1, Math.floor(s.n / 50));
  const out: Record<string, Measured & { serverCpuMs: number; alone?: { p50ms: number; p99ms: number } }> = {};
  const phases: Array<[string, () => Promise<void>]> = [
    ['list: first page (default order: ssl)', () => s.get(`${base}?per_page=50`)],
    ['list: random page', () => s.get(`${base}?per_page=50&page=${1 + Math.floor(Math.random() * pages)}`)],
    ['list: last page', () => s.get(`${base}?per_page=50&page=${pages}`)],
    ['list: order=hostname desc', () => s.get(`${base}?per_page=50&order=hostname&direction=desc`)],
    ['list: order=created_at', () => s.get(`${base}?per_page=50&order=created_at`)],
    ['list: ssl_status=pending_validation', () => s.get(`${base}?per_page=50&ssl_status=pending_validation`)],
    ['list: hostname.contain=customer42', () => s.get(`${base}?per_page=50&hostname.contain=customer42`)],
    // Every trigram of ".customer" is in every hostname: nothing narrows it (a scan), and it matches them all.
    ['list: hostname.contain=.customer (unselective)', () => s.get(`${base}?per_page=50&hostname.contain=.customer`)],
    ['list: hostname.exact', () => s.get(`${base}?per_page=50&hostname.exact=app${Math.floor(Math.random() * s.n)}.customer0.test`)],
  ];
  for (const [name, op] of phases) if (wanted(name)) out[name] = { ...(await measure(s, name, op)), alone: await alone(s, name, op) };
  // Last, since it writes: creates with a two-certificate pack through the API.
  let created = 0;
  const createName = 'create with an RSA + ECDSA pack (POST)';
  const create = (post: Served['post']) => () => post(base, { hostname: `new${created++}.bench.test`, ssl: { custom_cert_bundle: s.bundle } });
  // A zone holds at most HOSTNAME_HARD_CAP hostnames: at 1M the create is (rightly) refused 1405.
  if (wanted(createName) && s.n < HOSTNAME_HARD_CAP) {
    out[createName] = await measure(s, `${createName}, one core`, create(s.post));
    out[`${createName}, validation threads`] = await createsWithThreads(s, create);
  }
  return out;
}

/**
 * Creates as an API node with the machine to itself makes them: a second server on the same
 * database with its default validation threads (resources/custom-hostnames/validation-pool.ts), allowed every core;
 * the load generator stays on core 1. Its CPU is the whole process's, threads included.
 */
async function createsWithThreads(s: Served, create: (post: Served['post']) => () => Promise<void>) {
  // Its default (cores - 1), said outright: the bench's own affinity (core 1) is inherited.
  const { server, url } = await startApi(s.dir, s.token, s.databaseUrl, String(Math.max(1, cpus().length - 1)));
  try {
    pin(server.child.pid!, `0-${cpus().length - 1}`);
    const { pool, post } = apiClient(url, s.token);
    try {
      return await measure({ ...s, server }, 'create with an RSA + ECDSA pack (POST), validation threads, all cores', create(post));
    } finally {
      await pool.close();
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

export async function benchReads(): Promise<void> {
  say(`reads${ON_POSTGRES ? ' (PostgreSQL)' : ''}: ${SIZES.join(', ')} hostnames, ${SECONDS} s per measurement, concurrency ${CONCURRENCY}; servers pinned to core 0, load generator to core 1`);
  pin(process.pid, 1);
  const token = randomBytes(32).toString('base64url');
  const served: Served[] = [];
  try {
    for (const n of SIZES) served.push(await serve(n, token));
    // GET in alternating rounds, every size in each: the machine's drift hits all sizes alike.
    const rounds: Record<number, Array<Measured & { serverCpuMs: number }>> = {};
    for (let r = 0; r < (wanted('GET one custom hostname') ? 3 : 0); r++) for (const s of served) (rounds[s.n] ??= []).push(await measure(s, `GET one custom hostname (round ${r + 1})`, getOne(s)));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const runs: Array<{ hostnames: number; seedSeconds: number; bytesPerHostname: number; get?: { cpuMs: number; p50ms: number; p99ms: number }; getRounds?: unknown; lists: Awaited<ReturnType<typeof lists>> }> = [];
    for (const s of served) {
      if (!rounds[s.n]) {
        runs.push({ hostnames: s.n, seedSeconds: s.seedSeconds, bytesPerHostname: s.bytes / s.n, lists: await lists(s) });
        continue;
      }
      const get = { cpuMs: median(rounds[s.n]!.map((m) => m.serverCpuMs)), p50ms: median(rounds[s.n]!.map((m) => m.p50ms)), p99ms: median(rounds[s.n]!.map((m) => m.p99ms)) };
      say(`${s.n}: GET median of 3 rounds: server CPU ${get.cpuMs.toFixed(3)} ms, p50 ${get.p50ms.toFixed(2)} ms, p99 ${get.p99ms.toFixed(2)} ms (goal ≤ 5 ms)`);
      runs.push({ hostnames: s.n, seedSeconds: s.seedSeconds, bytesPerHostname: s.bytes / s.n, get, getRounds: rounds[s.n], lists: await lists(s) });
    }
    const [small, ...larger] = runs;
    for (const big of larger) {
      if (big.get && small?.get) say(`server CPU per GET at ${big.hostnames} / at ${small.hostnames}: ${(big.get.cpuMs / small.get.cpuMs).toFixed(2)} (goal ≤ 1.2)`);
      const worst = Object.entries(big.lists).filter(([name]) => name.startsWith("list")).sort((a, b) => b[1].p99ms - a[1].p99ms)[0];
      if (worst) say(`worst list p99 at ${big.hostnames}: ${worst[1].p99ms.toFixed(1)} ms (${worst[0]}; goal ≤ 20 ms)`);
      const worstAlone = Object.entries(big.lists).filter(([, m]) => m.alone).sort((a, b) => b[1].alone!.p99ms - a[1].alone!.p99ms)[0];
      if (worstAlone) say(`worst list p99 one at a time at ${big.hostnames}: ${worstAlone[1].alone!.p99ms.toFixed(1)} ms (${worstAlone[0]})`);
    }
    say(`results: ${saveResults('reads', runs)}`);
  } finally {
    for (const s of served) {
      await s.pool.close();
      s.server.child.kill('SIGTERM');
      await s.server.exited;
      rmSync(s.dir, { recursive: true, force: true });
    }
    cluster?.stop();
  }
}
