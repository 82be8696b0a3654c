import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../lib/logger.js';

/** Messages between the supervising process and its edge workers. */
export type WorkerMessage =
  | { type: 'listening'; address: string; loaded: { hostnames: number; ms: number; heapMiB: number } }
  | { type: 'changed' }
  | { type: 'shutdown' }
  /** The supervisor asks for a worker's metrics (a scrape of GET /metrics); the worker replies. */
  | { type: 'metrics'; id: number }
  | { type: 'metrics-reply'; id: number; metrics: unknown[] };

/** A worker that does not answer a metrics request this fast is left out of that scrape. */
const METRICS_TIMEOUT_MS = 2000;

/** A worker that lived this long had a good run: the restart backoff starts over. */
const HEALTHY_AFTER_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
/** How long SIGTERM waits for workers to drain before they are killed. */
const DRAIN_MS = 15_000;

/**
 * The edge in `count` processes (node:cluster) sharing the edge listener. Each worker is an
 * `edgecert serve --role edge` of its own (it opens the database and follows the change feed);
 * this process only starts them, restarts one that dies (with a backoff, logged), tells them at
 * once about changes made through its API, and drains them on shutdown.
 *
 * Connections are handed out by the kernel (SCHED_NONE: each worker accepts on the shared
 * socket), not by this process: it also serves the API, and must not be on the path of every
 * edge connection.
 */
export class EdgeWorkers {
  private readonly workers = new Map<Worker, { startedAt: number }>();
  private failures = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly count: number,
    private readonly log: Logger,
    /**
     * How long a worker may take from fork to listening (opening the database, loading the index
     * of every hostname) before it is taken for hung and killed; after the first start, replaced.
     */
    private readonly startupMs: number,
  ) {}

  /** Starts every worker; resolves once all of them listen, with what the first one reported. */
  async start(): Promise<Extract<WorkerMessage, { type: 'listening' }>> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ silent: false });
    cluster.on('exit', (worker, code, signal) => this.exited(worker, code, signal));
    const addresses = await Promise.all(Array.from({ length: this.count }, () => this.fork()));
    return addresses[0]!;
  }

  get pids(): number[] {
    return [...this.workers.keys()].map((w) => w.process.pid!);
  }

  private metricsRequests = 0;

  /** Every live worker's metrics (prom-client's JSON), for the supervisor's scrape to aggregate. */
  async metrics(): Promise<unknown[][]> {
    const id = ++this.metricsRequests;
    const replies = [...this.workers.keys()]
      .filter((worker) => worker.isConnected())
      .map(
        (worker) =>
          new Promise<unknown[] | undefined>((resolve) => {
            const timer = setTimeout(() => done(undefined), METRICS_TIMEOUT_MS);
            const onMessage = (message: WorkerMessage) => {
              if (message?.type === 'metrics-reply' && message.id === id) done(message.metrics);
            };
            const done = (metrics: unknown[] | undefined) => {
              clearTimeout(timer);
              worker.off('message', onMessage);
              resolve(metrics);
            };
            worker.on('message', onMessage);
            worker.send({ type: 'metrics', id } satisfies WorkerMessage);
          }),
      );
    return (await Promise.all(replies)).filter((m): m is unknown[] => m !== undefined);
  }

  /** Wakes every worker's change feed (a change was committed through this process). */
  broadcast(message: WorkerMessage): void {
    for (const worker of this.workers.keys()) if (worker.isConnected()) worker.send(message);
  }

  private fork(): Promise<Extract<WorkerMessage, { type: 'listening' }>> {
    const worker = cluster.fork();
    this.workers.set(worker, { startedAt: Date.now() });
    return new Promise((resolve, reject) => {
      const hung = setTimeout(() => {
        this.log.error({ pid: worker.process.pid, afterMs: this.startupMs }, 'edge worker did not start listening within EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT; killing it');
        worker.process.kill('SIGKILL');
      }, this.startupMs);
      const onMessage = (message: WorkerMessage) => {
        if (message?.type !== 'listening') return;
        clearTimeout(hung);
        worker.off('message', onMessage);
        worker.off('exit', onEarlyExit);
        resolve(message);
      };
      const onEarlyExit = (code: number | null, signal: string | null) => {
        clearTimeout(hung);
        reject(new Error(`an edge worker exited (${signal ?? `status ${code}`}) before it listened`));
      };
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
    });
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    const info = this.workers.get(worker);
    this.workers.delete(worker);
    if (this.stopping || !info) return;
    if (Date.now() - info.startedAt > HEALTHY_AFTER_MS) this.failures = 0;
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.failures);
    this.failures++;
    this.log.warn({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'edge worker exited; starting another');
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.fork().then(
        (message) => this.log.info({ address: message.address }, 'edge worker restarted'),
        (err) => this.log.error({ err }, 'edge worker failed to start'),
      );
    }, delay);
  }

  /** Asks every worker to drain (finish requests, close connections) and waits; kills stragglers. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const exits = [...this.workers.keys()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const kill = setTimeout(() => worker.process.kill('SIGKILL'), DRAIN_MS);
          worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (worker.isConnected()) worker.send({ type: 'shutdown' } satisfies WorkerMessage);
          else worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }
}
