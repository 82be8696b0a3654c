import { Worker } from 'node:worker_threads';
import { ApiError, Errors, type ErrorItem } from '../../api/errors.js';
import type { CertificateUpload } from './pack.js';
import type { CertificatePair } from './input.js';
import type { Logger } from '../../lib/logger.js';
import type { UploadValidator } from '../../context.js';

/**
 * Certificate validation on threads of the API process. The rules of an upload are pure CPU:
 * about 0.5 ms per certificate (X.509 parsing, a signature check, key parsing), a third of a
 * create with an RSA + ECDSA pack. On the event loop that time is taken from every other
 * request and caps writes at what one core does; on threads, an API node uses its other cores
 * and the loop stays free for reads and SQLite. Only PEM text and plain facts cross threads.
 *
 * `EDGECERT_VALIDATION_THREADS` sets how many (config.ts; 0: on the event loop). Threads start
 * on the first upload.
 */

export interface ValidationJob {
  id: number;
  pairs: CertificatePair[];
  hostname: string;
  /** The request's instant (ms): validity is judged by the API's clock, not the thread's. */
  now: number;
}
export type ValidationResult =
  | { id: number; ok: true; uploads: CertificateUpload[] }
  | { id: number; ok: false; status: number; errors: ErrorItem[]; headers: Record<string, string> }
  | { id: number; ok: false; failure: string };

/**
 * The compiled thread beside this file. Run from sources (the tests, through tsx), the thread
 * registers tsx itself first: loader hooks of the main thread do not reach a worker's entry.
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./validation-worker.js', import.meta.url), { workerData });
  const source = new URL('./validation-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`, { eval: true, workerData });
}

interface Pending {
  job: ValidationJob;
  /** Threads lost while holding this job. */
  losses: number;
  resolve(uploads: CertificateUpload[]): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

export class ValidationPool implements UploadValidator {
  private readonly threads: Thread[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly trustCaFile: string | undefined,
    private readonly log: Logger,
  ) {}

  /** The pairs' certificates, each checked as an upload is; an ApiError as the inline rules throw it. */
  validatePairs(pairs: CertificatePair[], hostname: string, now: Date): Promise<CertificateUpload[]> {
    if (this.closed) return Promise.reject(new Error('the validation pool is closed'));
    // The two texts of each pair, nothing else: the schema lets unknown properties through, and
    // cloning a deeply nested one for the thread would overflow the stack (a 500).
    const texts = pairs.map((p) => ({ custom_certificate: p.custom_certificate, custom_key: p.custom_key }));
    const job: ValidationJob = { id: this.nextId++, pairs: texts, hostname, now: now.getTime() };
    return new Promise((resolve, reject) => this.dispatch({ job, losses: 0, resolve, reject }));
  }

  private dispatch(pending: Pending): void {
    // A job handed on after a loss goes to a new thread when there is room: others may be
    // stopping too (their loss not yet reported).
    const thread = pending.losses > 0 && this.threads.length < this.size ? this.spawn() : this.leastBusy();
    thread.inFlight.set(pending.job.id, pending);
    thread.worker.postMessage(pending.job);
  }

  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** An idle thread, else a new one while there are fewer than `size`, else the least busy. */
  private leastBusy(): Thread {
    const idle = this.threads.find((t) => t.inFlight.size === 0);
    if (idle) return idle;
    if (this.threads.length < this.size) return this.spawn();
    return this.threads.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
  }

  private spawn(): Thread {
    const worker = startWorker({ trustCaFile: this.trustCaFile });
    // Idle threads do not keep the process alive (a server is kept alive by its listeners).
    worker.unref();
    const thread: Thread = { worker, inFlight: new Map() };
    this.threads.push(thread);
    worker.on('message', (result: ValidationResult) => {
      const pending = thread.inFlight.get(result.id);
      if (!pending) return;
      thread.inFlight.delete(result.id);
      if (result.ok) pending.resolve(result.uploads);
      else if ('status' in result) pending.reject(new ApiError(result.status, result.errors, result.headers));
      else {
        this.log.error({ err: result.failure }, 'certificate validation failed unexpectedly');
        pending.reject(Errors.internal());
      }
    });
    // A thread that stops is replaced. Validation has no side effects, so its jobs are handed to
    // another thread once; a job that has now lost two threads fails alone (500, nothing stored).
    const lost = (why: string) => {
      const index = this.threads.indexOf(thread);
      if (index >= 0) this.threads.splice(index, 1);
      if (!this.closed) this.log.error({ err: why }, 'a certificate validation thread stopped');
      const orphans = [...thread.inFlight.values()];
      thread.inFlight.clear();
      for (const pending of orphans) {
        pending.losses++;
        if (this.closed || pending.losses >= 2) pending.reject(Errors.internal());
        else this.dispatch(pending);
      }
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    return thread;
  }
}
