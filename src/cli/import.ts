import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { AppContext } from '../context.js';
import { Errors } from '../api/errors.js';
import { zonesRepository } from '../resources/zones/repository.js';
import { customHostnamesRepository } from '../resources/custom-hostnames/repository.js';
import { insertPrepared, type PreparedHostname } from '../resources/custom-hostnames/service.js';
import { isUniqueViolation } from '../storage/connect.js';
import type { ImportJob, ImportResult } from './import-worker.js';

/** Entries sent to a validation thread at once, and hostnames written per transaction. */
const JOB_SIZE = 25;
const BATCH = 200;

export interface ImportSummary {
  created: number;
  skipped: number;
  refused: number;
  seconds: number;
}

/**
 * `edgecert import --zone ZONE FILE`: custom hostnames from NDJSON, one POST body per line, as
 * platforms moving in from elsewhere have them. Each entry passes the API's own checks (in
 * threads, one per core) and is refused with the API's error codes, printed to `out` as one JSON
 * line each (`{"line", "hostname", "errors"}`); the rest are written in batches, each batch one
 * transaction that records a change per hostname (edges pick them up as from the API).
 * Resumable: a hostname already in the zone is skipped, so running the same file again after an
 * interruption finishes the job.
 */
export async function importHostnames(
  ctx: AppContext,
  opts: { zoneId: string; file: string; trustCaFile?: string; threads?: number; out: (line: string) => void; progress: (done: number, total: number, s: ImportSummary) => void },
): Promise<ImportSummary> {
  if (!(await zonesRepository.exists(ctx.store.db, opts.zoneId))) throw new Error(`zone ${opts.zoneId} was not found`);
  const started = performance.now();
  const summary: ImportSummary = { created: 0, skipped: 0, refused: 0, seconds: 0 };
  const source = entriesOf(opts.file);

  const threads = Array.from({ length: Math.max(1, opts.threads ?? availableParallelism()) }, () =>
    new Worker(new URL('./import-worker.js', import.meta.url), { workerData: { zoneId: opts.zoneId, trustCaFile: opts.trustCaFile } }),
  );
  const hostnameOf = new Map<number, string>();
  const entryOf = new Map<number, string>();
  const refuse = (n: number, errors: Array<{ code: number; message: string }>) => {
    summary.refused++;
    opts.out(JSON.stringify({ line: n, ...(entryOf.has(n) ? { entry: entryOf.get(n) } : {}), hostname: hostnameOf.get(n) ?? null, errors }));
  };

  // Prepared entries wait here for the next batch write.
  let pending: Array<{ n: number; prepared: PreparedHostname }> = [];
  let writing = Promise.resolve();
  const flush = () => {
    const batch = pending;
    pending = [];
    writing = writing.then(() => writeBatch(ctx, opts.zoneId, batch, summary, refuse));
    return writing;
  };

  // A job goes to an idle thread; each thread has one job at a time (its reply is the next message).
  const idle = [...threads];
  const inFlight = new Set<Promise<void>>();
  const dispatch = (jobs: ImportJob[]) => {
    const worker = idle.pop()!;
    const done = new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', (results: ImportResult[]) => {
        worker.off('error', onError);
        for (const r of results) {
          if (r.ok) pending.push({ n: r.n, prepared: r.prepared });
          else refuse(r.n, r.errors);
        }
        if (pending.length >= BATCH) void flush();
        idle.push(worker);
        resolve();
      });
    });
    worker.postMessage(jobs);
    const tracked: Promise<void> = done.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  try {
    let jobs: ImportJob[] = [];
    for await (const { n, text, entry, problem } of source.entries) {
      if (entry !== undefined) entryOf.set(n, entry);
      if (problem !== undefined) {
        refuse(n, Errors.invalidField(problem).errors);
        continue;
      }
      if (text.trim() === '') continue;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        refuse(n, Errors.invalidJson((err as Error).message).errors);
        continue;
      }
      const hostname = (body as { hostname?: unknown } | null)?.hostname;
      if (typeof hostname === 'string') hostnameOf.set(n, hostname);
      jobs.push({ n, body });
      if (jobs.length >= JOB_SIZE) {
        while (idle.length === 0) await Promise.race(inFlight);
        dispatch(jobs);
        jobs = [];
        summary.seconds = (performance.now() - started) / 1000;
        opts.progress(source.done(), source.total, summary);
      }
    }
    if (jobs.length) {
      while (idle.length === 0) await Promise.race(inFlight);
      dispatch(jobs);
    }
    await Promise.all(inFlight);
    await flush();
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
  summary.seconds = (performance.now() - started) / 1000;
  opts.progress(source.total, source.total, summary);
  return summary;
}

/**
 * The entries of an import, each the JSON of one POST body: the lines of an NDJSON file, or the
 * subdirectories of a directory, one per hostname (named after it), each holding its
 * certificates as `NAME.crt` (or `.pem`) with the key as `NAME.key` (one or two pairs: RSA
 * and/or ECDSA), and optionally `hostname.json` with further POST fields (`custom_metadata`,
 * `custom_origin_server`, `ssl.settings`, …). Progress counts bytes of a file, entries of a
 * directory.
 */
function entriesOf(file: string): { entries: AsyncIterable<{ n: number; text: string; entry?: string; problem?: string }>; total: number; done: () => number } {
  if (!statSync(file).isDirectory()) {
    const total = statSync(file).size;
    let bytes = 0;
    async function* lines() {
      let n = 0;
      for await (const text of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) {
        n++;
        bytes += Buffer.byteLength(text) + 1;
        yield { n, text };
      }
    }
    return { entries: lines(), total, done: () => bytes };
  }
  const names = readdirSync(file, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  let count = 0;
  async function* directories() {
    for (const [i, name] of names.entries()) {
      count = i + 1;
      try {
        yield { n: i + 1, entry: name, text: JSON.stringify(bodyOfDirectory(path.join(file, name), name)) };
      } catch (err) {
        yield { n: i + 1, entry: name, text: '', problem: `${name}: ${(err as Error).message}` };
      }
    }
  }
  return { entries: directories(), total: names.length, done: () => count };
}

function bodyOfDirectory(dir: string, hostname: string): Record<string, unknown> {
  const files = readdirSync(dir);
  const extra = files.includes('hostname.json') ? (JSON.parse(readFileSync(path.join(dir, 'hostname.json'), 'utf8')) as Record<string, unknown>) : {};
  const pairs = files
    .filter((f) => /\.(crt|pem)$/.test(f))
    .sort()
    .map((f) => {
      const key = f.replace(/\.(crt|pem)$/, '.key');
      return { custom_certificate: readFileSync(path.join(dir, f), 'utf8'), custom_key: files.includes(key) ? readFileSync(path.join(dir, key), 'utf8') : '' };
    });
  const ssl = { ...((extra.ssl as Record<string, unknown> | undefined) ?? {}), ...(pairs.length ? { custom_cert_bundle: pairs } : {}) };
  return { ...extra, hostname, ssl };
}

/**
 * One transaction for a batch: hostnames already in the zone are skipped (a re-run resumes),
 * ones owned by another zone are refused (1406, as the API answers), the rest inserted with a
 * change each. A unique-index refusal (another writer created one meanwhile) retries the batch
 * one entry at a time.
 */
async function writeBatch(
  ctx: AppContext,
  zoneId: string,
  batch: Array<{ n: number; prepared: PreparedHostname }>,
  summary: ImportSummary,
  refuse: (n: number, errors: Array<{ code: number; message: string }>) => void,
): Promise<void> {
  if (batch.length === 0) return;
  const owners = await customHostnamesRepository.ownersOf(ctx.store.db, batch.map((b) => b.prepared.row.hostname));
  const fresh: typeof batch = [];
  const seen = new Set<string>();
  for (const entry of batch) {
    const hostname = entry.prepared.row.hostname;
    const owner = owners.get(hostname);
    if (owner === zoneId || (owner === undefined && seen.has(hostname))) summary.skipped++;
    else if (owner !== undefined) refuse(entry.n, Errors.duplicateHostname().errors);
    else {
      seen.add(hostname);
      fresh.push(entry);
    }
  }
  if (fresh.length === 0) return;
  try {
    await ctx.store.write(
      fresh.map((e) => ({ kind: 'custom_hostname' as const, zoneId, entityId: e.prepared.row.id })),
      (trx) => insertPrepared(ctx, trx, fresh.map((e) => e.prepared)),
    );
    summary.created += fresh.length;
  } catch (err) {
    if (!isUniqueViolation(err) || fresh.length === 1) {
      if (fresh.length === 1 && isUniqueViolation(err)) return void summary.skipped++;
      for (const e of fresh) refuse(e.n, err instanceof Error && 'errors' in err ? (err as { errors: Array<{ code: number; message: string }> }).errors : [{ code: 1500, message: 'the batch could not be written' }]);
      return;
    }
    for (const e of fresh) await writeBatch(ctx, zoneId, [e], summary, refuse);
  }
}
