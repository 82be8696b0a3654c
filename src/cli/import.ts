import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AppContext } from '../context.js';
import { ApiError, Errors } from '../api/errors.js';
import { BODY_LIMIT } from '../app.js';
import { zonesRepository } from '../resources/zones/repository.js';
import { customHostnamesRepository } from '../resources/custom-hostnames/repository.js';
import { insertPrepared, type PreparedHostname } from '../resources/custom-hostnames/service.js';
import { isUniqueViolation } from '../storage/connect.js';
import type { ImportJob, ImportResult } from './import-worker.js';

/** Entries sent to a validation thread at once, and hostnames written per transaction. */
const JOB_SIZE = 25;
const BATCH = 200;

/** A checked entry waiting for its batch write. */
interface Pending {
  n: number;
  entry?: string;
  prepared: PreparedHostname;
}

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
  type Refusal = { code: number; message: string };
  /** One refused entry, reported by its line (or directory entry) and the hostname it names. */
  const refuse = (at: { n: number; entry?: string }, hostname: string | null, errors: Refusal[]) => {
    summary.refused++;
    opts.out(JSON.stringify({ line: at.n, ...(at.entry !== undefined ? { entry: at.entry } : {}), hostname, errors }));
  };

  // Prepared entries wait here for the next batch write.
  let pending: Pending[] = [];
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
          if (r.ok) pending.push({ n: r.n, entry: r.entry, prepared: r.prepared });
          else refuse(r, r.hostname, r.errors);
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
    for await (const { n, text, entry, refusal } of source.entries) {
      if (refusal) {
        refuse({ n, entry }, null, refusal.errors);
        continue;
      }
      if (text.trim() === '') continue;
      jobs.push({ n, entry, text });
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
type Entry = { n: number; text: string; entry?: string; refusal?: ApiError };

function entriesOf(file: string): { entries: AsyncIterable<Entry>; total: number; done: () => number } {
  if (!statSync(file).isDirectory()) {
    const total = statSync(file).size;
    let bytes = 0;
    return { entries: cappedLines(file, (n) => (bytes += n)), total, done: () => bytes };
  }
  const names = readdirSync(file, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  let count = 0;
  async function* directories(): AsyncIterable<Entry> {
    for (const [i, name] of names.entries()) {
      count = i + 1;
      try {
        yield { n: i + 1, entry: name, text: JSON.stringify(bodyOfDirectory(path.join(file, name), name)) };
      } catch (err) {
        yield { n: i + 1, entry: name, text: '', refusal: Errors.invalidField(`${name}: ${(err as Error).message}`) };
      }
    }
  }
  return { entries: directories(), total: names.length, done: () => count };
}

/**
 * The lines of a file, each at most BODY_LIMIT bytes, as the API takes at most that much of a
 * body: a longer line is refused (1801) without being held in memory, and reading goes on at
 * the next line. One pass over the bytes, whatever their shape.
 */
async function* cappedLines(file: string, read: (bytes: number) => void): AsyncIterable<Entry> {
  let n = 1;
  let parts: Buffer[] = [];
  let length = 0;
  let oversized = false;
  const line = (): Entry => {
    const entry: Entry = oversized ? { n, text: '', refusal: Errors.bodyTooLarge(BODY_LIMIT) } : { n, text: Buffer.concat(parts, length).toString('utf8') };
    n++;
    parts = [];
    length = 0;
    oversized = false;
    return entry;
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    read(chunk.length);
    let from = 0;
    for (let nl = chunk.indexOf(10, from); ; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl === -1 ? chunk.length : nl);
      if (!oversized && length + piece.length > BODY_LIMIT) {
        oversized = true;
        parts = [];
      }
      if (!oversized) {
        parts.push(piece);
        length += piece.length;
      }
      if (nl === -1) break;
      yield line();
      from = nl + 1;
    }
  }
  if (length > 0 || oversized) yield line();
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
  batch: Pending[],
  summary: ImportSummary,
  refuse: (at: { n: number; entry?: string }, hostname: string | null, errors: Array<{ code: number; message: string }>) => void,
): Promise<void> {
  if (batch.length === 0) return;
  const owners = await customHostnamesRepository.ownersOf(ctx.store.db, batch.map((b) => b.prepared.row.hostname));
  const fresh: Pending[] = [];
  const seen = new Set<string>();
  for (const entry of batch) {
    const hostname = entry.prepared.row.hostname;
    const owner = owners.get(hostname);
    if (owner === zoneId || (owner === undefined && seen.has(hostname))) summary.skipped++;
    else if (owner !== undefined) refuse(entry, hostname, Errors.duplicateHostname().errors);
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
    // A refusal of the whole batch (the zone's quota): each entry gets it.
    if (err instanceof ApiError) return void fresh.forEach((e) => refuse(e, e.prepared.row.hostname, err.errors));
    // Another writer created one of these hostnames meanwhile: one at a time, each re-checked.
    if (isUniqueViolation(err) && fresh.length > 1) {
      for (const e of fresh) await writeBatch(ctx, zoneId, [e], summary, refuse);
      return;
    }
    // Anything else (a full disk, a lost database) stops the import; a re-run resumes it.
    throw err;
  }
}
