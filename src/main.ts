import cluster from 'node:cluster';
import { loadConfig, ConfigError, type Config } from './config.js';
import { EdgeWorkers, type WorkerMessage } from './edge/workers.js';
import type { Logger } from './lib/logger.js';
import { openContext, startServer, type Running } from './server.js';
import { TokensService } from './resources/tokens/service.js';
import { flushLogs } from './lib/logger.js';
import { importHostnames } from './cli/import.js';

const USAGE = `usage:
  edgecert serve [--role api|edge|all] [--api-listen host:port] [--data-dir dir] ...
  edgecert migrate [--database-url url]
  edgecert token create --name NAME --permission P [--permission P ...] [--zone ID ... | --account ID]
  edgecert import --zone ZONE_ID FILE.ndjson|DIR   (one POST /custom_hostnames body per line, or a directory per hostname)
  edgecert rotate-master-key [--generate]   (re-seals every private key under a new master key; see the README)
  edgecert backup FILE     (a consistent copy of the running SQLite database; the master key is not in it)
  edgecert restore FILE    (into a data directory without a database; start it with the same master key)
Every EDGECERT_* variable has a flag: EDGECERT_API_LISTEN <-> --api-listen.`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest);
    if (command === 'migrate') return await migrate(rest);
    if (command === 'token' && rest[0] === 'create') return await tokenCreate(rest.slice(1));
    if (command === 'import') return await importCommand(rest);
    if (command === 'backup' || command === 'restore') return await backupOrRestore(command, rest);
    if (command === 'rotate-master-key') return await rotateMasterKey(rest);
    if (command === '--help' || command === 'help' || command === undefined) {
      process.stdout.write(USAGE + '\n');
      return;
    }
    throw new ConfigError(command, `unknown command\n${USAGE}`);
  } catch (err) {
    // What was logged before the failure (why a worker was killed, say) is written out first:
    // log lines are queued and written off the event loop, and exit() would drop the queue.
    flushLogs();
    if (err instanceof ConfigError) {
      process.stderr.write(`edgecert: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`edgecert: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

async function serve(argv: string[]): Promise<void> {
  // The few lines printed to stdout (address, first token) must not crash the process when
  // stdout fails (a full disk, a closed pipe): the server runs on without them.
  process.stdout.on('error', () => undefined);
  const config = loadConfig(process.env, argv);
  if (cluster.isWorker) return serveEdgeWorker(config);
  const workers = config.role === 'api' ? 0 : config.edgeWorkers;
  // One edge worker: today's shape, the edge in this process (beside the API unless --role edge).
  // More: the edge in that many processes, the API (if any) in this one.
  const running = await startServer(workers > 1 ? { ...config, role: config.role === 'edge' ? 'none' : 'api' } : config, { serveHttp: config.role !== 'api' });
  const log = running.ctx.log;
  const say = announcer(config.logFormat, log);
  if (running.firstToken) {
    // Printed once, on the first start of an empty database; never again.
    say(`created the "default" account (${running.ctx.defaultAccountId})`, { account_id: running.ctx.defaultAccountId });
    say(`API token (shown once, keep it): ${running.firstToken}`, { first_start: true });
  }
  if (running.apiUrl) say(`API listening on ${running.apiUrl}/client/v4`);
  if (running.metricsAddress) say(`metrics listening on http://${running.metricsAddress}/metrics`);
  if (running.httpAddress) say(`HTTP listening on ${running.httpAddress} (ACME challenges, redirects to HTTPS)`);
  const pool = workers > 1 ? new EdgeWorkers(workers, log, config.edgeWorkerStartupMs) : undefined;
  // Signals first: a SIGTERM while the workers start still drains whatever has started.
  const stopping = onSignals(async () => {
    await Promise.all([pool?.stop(), running.close()]);
  }, log);
  if (pool) {
    const first = await pool.start().catch((err: Error) => {
      if (stopping()) return undefined; // shut down while starting: not an error
      throw err;
    });
    if (!first) return;
    // Changes made through this process's API reach the workers at once (else by their poll).
    running.ctx.store.changes.on('changed', () => pool.broadcast({ type: 'changed' }));
    // GET /metrics (on this process's API) covers the workers' edges too.
    running.ctx.metrics.workerMetrics = () => pool.metrics() as never;
    printEdge(say, first.loaded, first.address);
    say(`${workers} edge workers (pids ${pool.pids.join(', ')})`);
  } else if (running.edge) {
    printEdge(say, running.edge.sync.loaded, running.edgeAddress!);
  }
}

/**
 * The lines `serve` prints when it starts (addresses, the first token): "edgecert: …" lines for a
 * person at a terminal; in JSON mode (a service's journal) records like every other line, with
 * the same words in `msg`, so nothing on stdout is anything but JSON.
 */
function announcer(format: 'json' | 'pretty', log: Logger) {
  return (text: string, fields: Record<string, unknown> = {}) => {
    if (format === 'pretty') process.stdout.write(`edgecert: ${text}\n`);
    else log.info(fields, text);
  };
}

function printEdge(say: ReturnType<typeof announcer>, l: { hostnames: number; ms: number; heapMiB: number }, address: string): void {
  say(`edge indexed ${l.hostnames} hostnames in ${l.ms} ms (heap +${l.heapMiB.toFixed(1)} MiB)`);
  say(`edge listening on ${address} (TLS)`, { address });
}

/** Runs `close`, then exits 0 (1 if closing failed), logs written out first. */
function closeAndExit(close: () => Promise<void>, log: Logger): void {
  close().then(
    () => {
      flushLogs();
      process.exit(0);
    },
    (err) => {
      log.error({ err }, 'error during shutdown');
      flushLogs();
      process.exit(1);
    },
  );
}

/** SIGTERM / SIGINT: `close`, then exit. Returns: has a signal come? */
function onSignals(close: () => Promise<void>, log: Logger): () => boolean {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    closeAndExit(close, log);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return () => stopping;
}

/**
 * One edge worker of `serve` (workers.ts): an edge-only server on the shared listener, woken by
 * the supervisor on changes, drained when it says so, when it goes away, or on a signal.
 */
async function serveEdgeWorker(config: Config): Promise<void> {
  let running: Running | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Asked to stop while still starting: stopped once started (below).
    if (running) closeAndExit(running.close, running.ctx.log);
  };
  // Listened for before anything else, so that no message or signal is missed while starting.
  process.on('message', (message: WorkerMessage) => {
    if (message?.type === 'changed') running?.edge?.sync.poke();
    else if (message?.type === 'shutdown') stop();
    else if (message?.type === 'metrics' && running) {
      const id = message.id;
      void running.ctx.metrics.json().then((metrics) => process.send?.({ type: 'metrics-reply', id, metrics } satisfies WorkerMessage));
    }
  });
  // The supervisor is gone (killed): do not serve on unsupervised.
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  running = await startServer({ ...config, role: 'edge' }, { serveHttp: false, worker: true });
  if (stopping) {
    stopping = false;
    return stop();
  }
  process.send?.({ type: 'listening', address: running.edgeAddress!, loaded: running.edge!.sync.loaded } satisfies WorkerMessage);
}

async function backupOrRestore(command: 'backup' | 'restore', argv: string[]): Promise<void> {
  const file = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
  if (!file) throw new ConfigError('FILE', `edgecert ${command} FILE: give the backup file`);
  const config = loadConfig(process.env, argv.slice(1));
  const { backupSqlite, restoreSqlite } = await import('./storage/backup.js');
  if (command === 'backup') {
    const made = await backupSqlite(config.databaseUrl, file);
    process.stdout.write(`edgecert: backed up ${made.hostnames} custom hostnames (${made.certificates} certificates, ${(made.bytes / 1048576).toFixed(1)} MiB) to ${file}; keep the master key apart from it\n`);
    return;
  }
  const restored = await restoreSqlite(config.databaseUrl, file);
  // The keys in it open only under their master key: checked now rather than at the first start.
  try {
    const { ctx } = await openContext({ ...config, logLevel: 'silent' });
    await ctx.store.close();
  } catch (err) {
    const { rmSync } = await import('node:fs');
    for (const suffix of ['', '-wal', '-shm']) rmSync(restored.file + suffix, { force: true });
    throw err;
  }
  process.stdout.write(`edgecert: restored ${restored.hostnames} custom hostnames (${restored.certificates} certificates) into ${restored.file}\n`);
}

/**
 * `edgecert rotate-master-key`: every sealed row under a new master key, beside running servers.
 * - Key in the data directory (the default): a new key goes into master.key, the old one into
 *   master.key.previous; running servers re-read both within a second (crypto.ts), so they open
 *   rows of either key and seal new ones with the new key. Once no row is left under the old key,
 *   master.key.previous is removed.
 * - Key in EDGECERT_MASTER_KEY: the nodes are given the new key and the old one as
 *   EDGECERT_MASTER_KEY_PREVIOUS (and restarted) first; this then re-seals. `--generate` prints a key.
 * Interrupted, it is run again: it carries on where it was.
 */
async function rotateMasterKey(argv: string[]): Promise<void> {
  const { randomBytes } = await import('node:crypto');
  const fs = await import('node:fs');
  const { masterKeyFile, previousKeyFile } = await import('./storage/crypto.js');
  const { resealAll, rowsToReseal, dropOtherKeyChecks } = await import('./storage/rotation.js');
  if (argv.includes('--generate')) {
    process.stdout.write(randomBytes(32).toString('base64') + '\n');
    return;
  }
  let batch = 500;
  const configArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--batch') batch = Number(argv[++i]);
    else configArgs.push(argv[i]!);
  }
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('--batch', 'must be a whole number of rows per transaction');
  const config = loadConfig(process.env, configArgs);
  const say = (line: string) => process.stdout.write(`edgecert: ${line}\n`);
  const fileBased = !config.masterKey;
  if (!fileBased && config.previousMasterKeys.length === 0) {
    throw new ConfigError(
      'EDGECERT_MASTER_KEY_PREVIOUS',
      'to rotate a key given in EDGECERT_MASTER_KEY: make one (edgecert rotate-master-key --generate), give every node the new key as EDGECERT_MASTER_KEY and the old one as EDGECERT_MASTER_KEY_PREVIOUS, restart them, then run this with the same two variables',
    );
  }
  if (fileBased) {
    // Nothing is renamed unless the key there now opens this database (a wrong key stays as it was).
    if (!fs.existsSync(previousKeyFile(config.dataDir))) await (await openContext({ ...config, logLevel: 'silent' })).ctx.store.close();
    const current = masterKeyFile(config.dataDir);
    const previous = previousKeyFile(config.dataDir);
    const next = `${current}.next`;
    if (!fs.existsSync(previous)) {
      if (!fs.existsSync(current)) throw new ConfigError(current, 'there is no master key to rotate');
      const fd = fs.openSync(next, 'w', 0o600);
      fs.writeSync(fd, randomBytes(32).toString('base64') + '\n');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(current, previous);
      fs.renameSync(next, current);
      say(`a new master key is in ${current}; the previous one stays in ${previous} until every private key is sealed again`);
    } else if (!fs.existsSync(current) && fs.existsSync(next)) {
      fs.renameSync(next, current); // interrupted between the two renames
    } else {
      say(`carrying on with the rotation begun earlier (${previous} is still there)`);
    }
  }
  const { ctx } = await openContext({ ...config, logLevel: 'silent' });
  try {
    const total = await rowsToReseal(ctx.store, ctx.vault);
    say(`${total} private keys to seal again under master key ${ctx.vault.keyId}`);
    let sealed = 0;
    // Running servers switch to the new key within a second; a row one of them sealed with the
    // old key just before is caught by the next pass. Done after a quiet pass 2 s after the last.
    for (let quiet = 0; quiet < 2; ) {
      const n = await resealAll(ctx.store, ctx.vault, { batch, onBatch: (done) => say(`sealed again ${sealed + done} of ${Math.max(total, sealed + done)}`) });
      sealed += n;
      quiet = n === 0 ? quiet + 1 : 0;
      if (quiet < 2) await new Promise((r) => setTimeout(r, 2000));
    }
    await dropOtherKeyChecks(ctx.store, ctx.vault);
    if (fileBased) fs.rmSync(previousKeyFile(config.dataDir), { force: true });
    say(`done: ${sealed} private keys sealed again; every one is under master key ${ctx.vault.keyId}`);
    if (!fileBased) say('now remove EDGECERT_MASTER_KEY_PREVIOUS from every node (the old key opens nothing any more), and restart them');
  } finally {
    await ctx.store.close();
  }
}

async function migrate(argv: string[]): Promise<void> {
  const config = loadConfig(process.env, argv);
  const { openStore } = await import('./storage/connect.js');
  const store = await openStore(config.databaseUrl);
  const applied = await store.migrate();
  await store.close();
  process.stdout.write(applied.length ? `edgecert: applied ${applied.join(', ')}\n` : 'edgecert: schema is up to date\n');
}

async function tokenCreate(argv: string[]): Promise<void> {
  const own = { name: undefined as string | undefined, permissions: [] as string[], zones: [] as string[], account: undefined as string | undefined };
  const configArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(arg, 'needs a value');
      return v;
    };
    if (arg === '--name') own.name = next();
    else if (arg === '--permission') own.permissions.push(next());
    else if (arg === '--zone') own.zones.push(next());
    else if (arg === '--account') own.account = next();
    else configArgs.push(arg);
  }
  if (!own.name) throw new ConfigError('--name', 'is required');
  if (own.permissions.length === 0) throw new ConfigError('--permission', 'give at least one');
  if (own.zones.length && own.account) throw new ConfigError('--zone', 'use --zone or --account, not both');
  const config = loadConfig(process.env, configArgs);
  const { ctx } = await openContext({ ...config, logLevel: 'silent' });
  try {
    const token = await new TokensService(ctx).create({
      name: own.name,
      permissions: own.permissions,
      zoneIds: own.zones,
      accountId: own.account,
    });
    process.stdout.write(`${token.value}\n`);
  } catch (err) {
    throw new ConfigError('--permission/--zone/--account', (err as Error).message);
  } finally {
    await ctx.store.close();
  }
}

/** `edgecert import --zone ZONE_ID FILE`: refusals as JSON lines on stdout, progress and the summary on stderr. */
async function importCommand(argv: string[]): Promise<void> {
  let zoneId: string | undefined;
  let file: string | undefined;
  const configArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--zone') zoneId = argv[++i];
    else if (!arg.startsWith('--') && file === undefined) file = arg;
    else configArgs.push(arg, ...(argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? [argv[++i]!] : []));
  }
  if (!zoneId) throw new ConfigError('--zone', 'is required: the zone the hostnames go into');
  if (!file) throw new ConfigError('FILE', 'give the NDJSON file to import');
  const config = loadConfig(process.env, configArgs);
  const { ctx } = await openContext({ ...config, logLevel: 'silent' });
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  try {
    const summary = await importHostnames(ctx, {
      zoneId,
      file,
      trustCaFile: config.trustCaFile,
      out: (line) => process.stdout.write(line + '\n'),
      progress: (done, total, s) => {
        const now = Date.now();
        if (!tty && now - lastPrinted < 2000 && done < total) return;
        lastPrinted = now;
        const pct = total ? Math.floor((done / total) * 100) : 100;
        const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
        const rate = s.seconds > 0 ? Math.round(s.created / s.seconds) : 0;
        const line = `[${bar}] ${String(pct).padStart(3)} %  ${s.created} created, ${s.skipped} already there, ${s.refused} refused  (${rate}/s)`;
        process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      },
    });
    if (tty) process.stderr.write('\n');
    process.stderr.write(
      `edgecert import: ${summary.created} created, ${summary.skipped} already there (skipped), ${summary.refused} refused, in ${summary.seconds.toFixed(1)} s (${Math.round(summary.created / Math.max(summary.seconds, 0.001))} creates/s)\n`,
    );
    if (summary.refused > 0) process.exitCode = 1;
  } finally {
    await ctx.store.close();
  }
}
