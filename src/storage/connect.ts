import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type MigrationProvider } from 'kysely';
import type { Database, Db } from './schema.js';
import { migrations } from './migrations/index.js';
import { CHANGES_CHANNEL, ChangeFeed, type ChangeTarget } from './changes.js';
import { prepared } from './prepared.js';
import { systemClock, type Clock } from '../lib/clock.js';

/** Row-existence and row-lock queries of `WriteTx.lock`, compiled once (they run in every write). */
const lockQueries = (forUpdate: boolean) =>
  Object.fromEntries(
    (['accounts', 'custom_hostnames', 'zones', 'mtls_certificates'] as const).map((table) => [
      table,
      prepared((db, p: { id: string }) => {
        const q = db.selectFrom(table).select('id').where('id', '=', p.id);
        return forUpdate ? q.forUpdate() : q;
      }),
    ]),
  ) as Record<LockableTable, ReturnType<typeof prepared<{ id: string }, { id: string }>>>;
const rowExists = lockQueries(false);
const rowForUpdate = lockQueries(true);

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The change feed: what edges follow; written only through `write`. */
  changes: ChangeFeed;
  /**
   * The one way services write (design §3.1). Runs `fn` in a write transaction, records `change`
   * (or each of several, for a batch) in the change feed in the same transaction (unless null: a
   * write no edge needs to hear of),
   * and once it has committed wakes this process's listeners; on PostgreSQL the NOTIFY to other
   * nodes goes out with the commit. `fn` locks the rows whose invariants it re-checks with
   * `tx.lock`, the same call on both databases.
   */
  write<T>(change: ChangeTarget | ChangeTarget[] | null, fn: (trx: Db, tx: WriteTx) => Promise<T>, opts?: WriteOptions): Promise<T>;
  /**
   * A bare transaction, without the change feed: for storage code, bulk seeding and tests.
   * On SQLite it is `BEGIN IMMEDIATE` (takes the write lock up front, so two processes cannot
   * both read then fail to upgrade); on PostgreSQL a normal transaction.
   */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Called by every `write` inside its transaction, after `fn`: the API's audit log (api/audit.ts). */
  hooks: WriteHooks;
  /** SQLite: writes committed and the commits they took (group commit; undefined on PostgreSQL). */
  stats?: WriteStats;
  migrate(): Promise<string[]>;
  /**
   * Wakes `onWake` whenever another process commits a change (PostgreSQL LISTEN/NOTIFY; a
   * reconnect wakes it too, so the listener catches up from its sequence number). Undefined on
   * SQLite, where other processes are only seen by polling.
   */
  listen?(onWake: () => void, onError: (err: Error) => void): () => Promise<void>;
  close(): Promise<void>;
}

/** What a write's function may do besides running repository queries on `trx`. */
export interface WriteTx {
  /**
   * Locks one row for the rest of the write (PostgreSQL `SELECT … FOR UPDATE`; SQLite's
   * `BEGIN IMMEDIATE` already excludes every other writer) and tells whether it still exists:
   * it may have been deleted since the caller last read it, outside the write.
   */
  lock(table: LockableTable, id: string): Promise<boolean>;
  /** Records the write's change(s) now (not at the end) and returns the (first) sequence number. */
  sequence(): Promise<number>;
}

export interface WriteHooks {
  beforeCommit?: (trx: Db, changes: ChangeTarget[], opts: WriteOptions) => Promise<void>;
}

export interface WriteOptions {
  /** The API request the write is made for (resources/audit-logs/recorder.ts records it); opaque here. */
  audit?: unknown;
}

export interface WriteStats {
  writes: number;
  commits: number;
}

export type LockableTable = 'accounts' | 'custom_hostnames' | 'zones' | 'mtls_certificates';

export async function openStore(databaseUrl: string, opts: { clock?: Clock } = {}): Promise<Store> {
  const clock = opts.clock ?? systemClock;
  if (databaseUrl.startsWith('sqlite:')) return openSqlite(databaseUrl.slice('sqlite:'.length), clock);
  return openPostgres(databaseUrl, clock);
}

/** One write's work inside a transaction: `fn`, its change rows, the hooks (the audit log). */
async function writeBody<T>(
  trx: Db,
  change: ChangeTarget | ChangeTarget[] | null,
  fn: (trx: Db, tx: WriteTx) => Promise<T>,
  opts: WriteOptions,
  lockRow: (trx: Db, table: LockableTable, id: string) => Promise<boolean>,
  changes: ChangeFeed,
  hooks: WriteHooks,
): Promise<{ value: T; changed: boolean }> {
  const all = change === null ? [] : Array.isArray(change) ? change : [change];
  let seq: Promise<number> | undefined;
  const record = () => {
    if (all.length === 0) throw new Error('store.write: sequence() asked of a write that records no change');
    return (seq ??= (async () => {
      let first = 0;
      for (const [i, c] of all.entries()) {
        const n = await changes.record(trx, c);
        if (i === 0) first = n;
      }
      return first;
    })());
  };
  const value = await fn(trx, { lock: (table, id) => lockRow(trx, table, id), sequence: record });
  if (all.length > 0) await record();
  await hooks.beforeCommit?.(trx, all, opts);
  return { value, changed: all.length > 0 };
}

/** `write` as one transaction per write (PostgreSQL: concurrent writers run side by side). */
function writer(
  transaction: Store['transaction'],
  lockRow: (trx: Db, table: LockableTable, id: string) => Promise<boolean>,
  changes: ChangeFeed,
  hooks: WriteHooks,
): Store['write'] {
  return async (change, fn, opts = {}) => {
    const { value, changed } = await transaction((trx) => writeBody(trx, change, fn, opts, lockRow, changes, hooks));
    if (changed) changes.committed();
    return value;
  };
}

/**
 * The most writes one SQLite transaction takes from the queue. The transaction holds the event
 * loop from its first write to its commit (~1 ms per create), so this bounds how long reads,
 * health checks and an in-process edge wait behind it.
 */
const MAX_WRITES_PER_COMMIT = 16;

/**
 * `write` on SQLite, with group commit. SQLite has one writer at a time, so writes queue anyway;
 * those that queued while a transaction ran share the next one, each inside a savepoint of its
 * own: a write that fails rolls back to its savepoint, alone, and the others commit. A commit
 * writes every page the transaction dirtied to the WAL (16 KiB each, ~15 for a create), which
 * was the largest part of a create's SQLite time; pages several writes touch are written once.
 * Each caller learns its outcome only after the commit, as before. A lone write runs exactly as
 * it did (no savepoint), one turn of the event loop later.
 */
function groupedWriter(
  transaction: Store['transaction'],
  inTransaction: () => boolean,
  lockRow: (trx: Db, table: LockableTable, id: string) => Promise<boolean>,
  changes: ChangeFeed,
  hooks: WriteHooks,
  stats: WriteStats,
): Store['write'] {
  interface Queued {
    body(trx: Db): Promise<{ value: unknown; changed: boolean }>;
    resolve(value: unknown): void;
    reject(err: unknown): void;
  }
  const queue: Queued[] = [];
  let draining = false;

  async function runBatch(batch: Queued[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown; changed: boolean } | { ok: false; err: unknown }> = [];
    try {
      await transaction(async (trx) => {
        if (batch.length === 1) {
          outcomes.push({ ok: true, ...(await batch[0]!.body(trx)) });
          return;
        }
        for (const w of batch) {
          await trx.executeQuery(SAVEPOINT);
          try {
            outcomes.push({ ok: true, ...(await w.body(trx)) });
            await trx.executeQuery(RELEASE);
          } catch (err) {
            // SQLite ends the whole transaction itself on some errors (a full disk): then every
            // write of it fails, with that error.
            if (!inTransaction()) throw err;
            await trx.executeQuery(ROLLBACK_TO);
            await trx.executeQuery(RELEASE);
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      // Nothing committed (BEGIN or COMMIT failed, or the transaction ended): each write fails,
      // with its own error when it had one.
      for (const [i, w] of batch.entries()) {
        const own = outcomes[i];
        w.reject(own && !own.ok ? own.err : err);
      }
      return;
    }
    stats.commits++;
    stats.writes += batch.length;
    if (outcomes.some((o) => o.ok && o.changed)) changes.committed();
    for (const [i, w] of batch.entries()) {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(o.err);
    }
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, MAX_WRITES_PER_COMMIT));
    } finally {
      draining = false;
    }
  }

  return (change, fn, opts = {}) =>
    new Promise((resolve, reject) => {
      queue.push({ body: (trx) => writeBody(trx, change, fn, opts, lockRow, changes, hooks), resolve: resolve as (v: unknown) => void, reject });
      // better-sqlite3 is synchronous: a transaction runs to its commit without yielding to I/O,
      // so writes only queue up if the first waits for the requests that arrived with it (the
      // rest of this turn of the event loop) before it begins.
      if (!draining) {
        draining = true;
        setImmediate(() => void drain());
      }
    });
}

async function openSqlite(file: string, clock: Clock): Promise<Store> {
  const { default: SqliteDatabase } = await import('better-sqlite3');
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const database = new SqliteDatabase(file);
  // 16 KiB pages for a new database (an existing one keeps its own): a pack certificate row is
  // 1.5–3.5 KB, and 4 KiB pages held one each, a third of every page empty (bench -- reads:
  // 8.4 KB per hostname at 4 KiB, 5.9 KB at 16 KiB, with GETs no dearer).
  database.pragma('page_size = 16384');
  database.pragma('journal_mode = WAL');
  // WAL + NORMAL survives a killed process (the WAL is in the OS); FULL would also survive power loss.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  // Keep the hot part of the database in process memory (pages are ~2 KB of certificate PEM each).
  database.pragma('cache_size = -65536');
  // Temporary files in memory: the savepoint of each write of a shared commit (group commit,
  // below) keeps the original of every page it changes until it is released, in a file by default.
  database.pragma('temp_store = MEMORY');
  // No memory-mapped I/O (mmap_size stays 0): an I/O error on a mapped page is a SIGBUS that
  // kills the process (a file made immutable or truncated under it ended SIGTERM in SIGBUS),
  // where read() returns an error SQLite reports. SQLite's own page cache above holds hot pages.
  const busyTimeout = new BusyTimeout(database);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database, busyTimeout, file) }) });
  const changes = new ChangeFeed(clock, 'sqlite');
  const transaction: Store['transaction'] = (fn) =>
    // One connection, held for the whole transaction: Kysely's SQLite driver serialises users of it.
    db.connection().execute(async (conn) => {
      await beginImmediate(conn, busyTimeout);
      try {
        const result = await fn(conn);
        await conn.executeQuery(COMMIT);
        return result;
      } catch (err) {
        // SQLite ends the transaction itself on some errors (a full disk, say); a ROLLBACK then
        // would fail and its error would hide the one that tells what happened.
        if (database.inTransaction) await conn.executeQuery(ROLLBACK);
        throw err;
      }
    });
  // BEGIN IMMEDIATE already holds the database's only write lock, so nothing else needs
  // locking; but the row may have been deleted since the caller last read it, outside the
  // transaction, and the answer must say so on both databases.
  const hooks: WriteHooks = {};
  const stats: WriteStats = { writes: 0, commits: 0 };
  const lockRow = async (trx: Db, table: LockableTable, id: string) => (await rowExists[table].execute(trx, { id })).length > 0;
  return {
    db,
    dialect: 'sqlite',
    changes,
    transaction,
    hooks,
    write: groupedWriter(transaction, () => database.inTransaction, lockRow, changes, hooks, stats),
    stats,
    migrate: () => runMigrations(db, 'sqlite'),
    close: async () => {
      // Closing the last connection checkpoints the WAL and writes the WAL index, which SQLite
      // keeps in a memory-mapped -shm file: if that file cannot be written (an immutable or
      // read-only data directory), the write is a SIGBUS that kills the process. Such a database
      // is left open (as after a crash, the WAL is replayed on the next start); the caller exits
      // without closing it (process.exit runs no addon clean-up).
      const unwritable = unwritableFile(file);
      if (unwritable) throw new StoreUnwritableError(unwritable);
      await db.destroy();
    },
  };
}

/** The database's WAL index cannot be written: nothing was written (or, at close, it was left open). */
export class StoreUnwritableError extends Error {
  constructor(readonly path: string) {
    super(`${path} cannot be written`);
  }
}

/**
 * The WAL index (`-shm`) when it cannot be written, else undefined. It is the one file SQLite
 * writes through a memory map; a failed write to the others is an error SQLite returns. One
 * access() call: cheap next to a write transaction. (A file made read-only between this check
 * and the write still ends in SIGBUS: SQLite offers no WAL index outside a memory map that other
 * processes can share.)
 */
function unwritableFile(file: string): string | undefined {
  if (file === ':memory:') return undefined;
  const shm = `${file}-shm`;
  try {
    accessSync(shm, constants.W_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : shm;
  }
}

// Compiled once: they run in every write transaction.
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');
const SAVEPOINT = CompiledQuery.raw('savepoint edgecert_write');
const RELEASE = CompiledQuery.raw('release edgecert_write');
const ROLLBACK_TO = CompiledQuery.raw('rollback to edgecert_write');

/** How long a write waits for another process's write lock before it gives up (StoreBusyError). */
const WRITE_LOCK_WAIT_MS = 5000;

/** Another process held the database's write lock for longer than a writer waits. */
export class StoreBusyError extends Error {
  constructor() {
    super(`the database stayed locked by another process for ${WRITE_LOCK_WAIT_MS / 1000} s`);
  }
}

const isSqliteBusy = (err: unknown) => (err as { code?: unknown }).code === 'SQLITE_BUSY';

/**
 * SQLite's busy timeout: how long a statement waits, inside SQLite's busy handler (a sleep on
 * the event loop's thread), for another process's write lock. Two settings, switched only when
 * the next statement needs the other one, because a switch is a statement of its own:
 * - `short` (10 ms) for `BEGIN IMMEDIATE`, which waits longer with timers (`beginImmediate`),
 *   and for reads, which in WAL mode never wait for the write lock;
 * - `normal` (5 s) for a write outside a transaction (a single statement), which has no other
 *   way to wait.
 * So the transactions and reads of an API node switch nothing; a lone write switches twice.
 */
class BusyTimeout {
  private current: 'short' | 'normal' | undefined;

  constructor(private readonly database: import('better-sqlite3').Database) {
    this.use('short');
  }

  use(setting: 'short' | 'normal'): void {
    if (this.current === setting) return;
    // Not a reused prepared statement: SQLite applies `PRAGMA busy_timeout = N` when it compiles
    // it, so a prepared one takes effect only from its second run on.
    this.database.pragma(`busy_timeout = ${setting === 'short' ? 10 : WRITE_LOCK_WAIT_MS}`);
    this.current = setting;
  }

  /** Before Kysely runs `statement` (BEGIN IMMEDIATE goes through `beginImmediate` instead). */
  before(statement: import('better-sqlite3').Statement): void {
    if (!statement.readonly && !this.database.inTransaction && statement !== this.beginStatement) this.use('normal');
  }

  beginStatement: import('better-sqlite3').Statement | undefined;
}

/**
 * `BEGIN IMMEDIATE`, waiting for another process's write lock (another API node, `edgecert token
 * create`) with timers rather than in SQLite's busy handler, which sleeps on the event loop's
 * thread: a process waiting for the lock keeps answering health checks and serving the edge.
 * The short busy timeout still waits inline for a lock released within a few milliseconds.
 */
async function beginImmediate(conn: Db, busyTimeout: BusyTimeout): Promise<void> {
  const deadline = Date.now() + WRITE_LOCK_WAIT_MS;
  // The connection is this transaction's alone (Kysely's mutex), so nothing else runs between
  // setting the timeout and the BEGIN.
  busyTimeout.use('short');
  for (let attempt = 0; ; attempt++) {
    try {
      await conn.executeQuery(BEGIN_IMMEDIATE);
      return;
    } catch (err) {
      if (!isSqliteBusy(err)) throw err;
      if (Date.now() >= deadline) throw new StoreBusyError();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50) * (0.5 + Math.random())));
    }
  }
}

/**
 * Kysely's SQLite driver prepares every statement on every call; preparing costs as much as
 * running a point query. Statements are reused by SQL text (Kysely binds parameters, so the
 * set of texts is small and bounded by the code), which better-sqlite3 allows as long as one
 * statement is not iterated twice at once — Kysely only uses all()/run(). Each statement gets
 * the busy timeout it needs just before it runs (Kysely runs what it prepares at once), and a
 * write is refused before it runs when the database can no longer be written.
 */
function withStatementCache(database: import('better-sqlite3').Database, busyTimeout: BusyTimeout, file: string) {
  const cache = new Map<string, import('better-sqlite3').Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string) {
      let statement = cache.get(sqlText);
      if (!statement) {
        statement = database.prepare(sqlText);
        if (sqlText === BEGIN_IMMEDIATE.sql) busyTimeout.beginStatement = statement;
        if (cache.size >= 1000) cache.delete(cache.keys().next().value!);
        cache.set(sqlText, statement);
      }
      // A write (a transaction's BEGIN, or a lone statement) would touch the memory-mapped WAL
      // index: refused here, for every writer alike, if that file cannot be written (a SIGBUS
      // otherwise). Statements inside a transaction were covered by its BEGIN.
      if (statement === busyTimeout.beginStatement || (!statement.readonly && !database.inTransaction)) {
        const unwritable = unwritableFile(file);
        if (unwritable) throw new StoreUnwritableError(unwritable);
      }
      busyTimeout.before(statement);
      return statement;
    },
  };
}

async function openPostgres(url: string, clock: Clock): Promise<Store> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const changes = new ChangeFeed(clock, 'postgres');
  const transaction: Store['transaction'] = (fn) => db.transaction().execute(fn);
  const hooks: WriteHooks = {};
  const lockRow = async (trx: Db, table: LockableTable, id: string) => (await rowForUpdate[table].execute(trx, { id })).length > 0;
  return {
    db,
    dialect: 'postgres',
    changes,
    transaction,
    hooks,
    write: writer(transaction, lockRow, changes, hooks),
    listen: (onWake, onError) => {
      // A dedicated connection (LISTEN does not survive being returned to a pool).
      let client: import('pg').Client | undefined;
      let stopped = false;
      let retry: NodeJS.Timeout | undefined;
      const connect = async () => {
        if (stopped) return;
        const c = new pg.Client({ connectionString: url });
        client = c;
        c.on('notification', () => onWake());
        c.on('error', (err) => {
          onError(err);
          reconnect();
        });
        c.on('end', () => reconnect());
        try {
          await c.connect();
          await c.query(`listen ${CHANGES_CHANNEL}`);
          onWake(); // catch up on anything committed while we were not listening
        } catch (err) {
          onError(err as Error);
          reconnect();
        }
      };
      const reconnect = () => {
        if (stopped || retry) return;
        client?.removeAllListeners();
        void client?.end().catch(() => undefined);
        retry = setTimeout(() => {
          retry = undefined;
          void connect();
        }, 1000);
      };
      void connect();
      return async () => {
        stopped = true;
        clearTimeout(retry);
        client?.removeAllListeners();
        await client?.end().catch(() => undefined);
      };
    },
    migrate: async () => {
      // Nodes starting together: one migrates, the others wait on the advisory lock.
      return db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(724311)`.execute(conn);
        try {
          return await runMigrations(conn as Kysely<Database>, 'postgres');
        } finally {
          await sql`select pg_advisory_unlock(724311)`.execute(conn);
        }
      });
    },
    close: () => db.destroy(),
  };
}

async function runMigrations(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when the error is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || (typeof e?.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT_UNIQUE')) || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
