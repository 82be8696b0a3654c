import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';

/** The file a SQLite deployment keeps its database in, from EDGECERT_DATABASE_URL. */
function sqliteFile(databaseUrl: string, what: string): string {
  if (!databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError('EDGECERT_DATABASE_URL', `${what} is for the embedded SQLite database; on PostgreSQL use pg_dump and pg_restore (README, "Backup and restore")`);
  }
  return path.resolve(databaseUrl.slice('sqlite:'.length));
}

/** Opens a database file and proves it is an edgecert database that SQLite finds intact. */
async function checkedDatabase(file: string): Promise<{ hostnames: number; certificates: number }> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`${file} is damaged: ${String(integrity)}`);
    const tables = new Set((db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>).map((t) => t.name));
    if (!tables.has('custom_hostnames') || !tables.has('pack_certificates')) throw new Error(`${file} is not an edgecert database`);
    const count = (table: string) => (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    return { hostnames: count('custom_hostnames'), certificates: count('pack_certificates') };
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') throw new Error(`${file} is not an SQLite database`);
    throw err;
  } finally {
    db.close();
  }
}

/**
 * `edgecert backup FILE`: a consistent copy of a running SQLite deployment, taken with SQLite's
 * online backup (pages copied under the database's own locking, restarted if a writer changes
 * them meanwhile), never a file copy that could catch a transaction half-written. Written beside
 * FILE first and renamed into place once checked.
 */
export async function backupSqlite(databaseUrl: string, target: string): Promise<{ hostnames: number; certificates: number; bytes: number }> {
  const source = sqliteFile(databaseUrl, 'edgecert backup');
  if (!existsSync(source)) throw new ConfigError('EDGECERT_DATABASE_URL', `there is no database at ${source}`);
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(source, { readonly: true, fileMustExist: true });
  const partial = `${path.resolve(target)}.partial`;
  rmSync(partial, { force: true });
  try {
    // A few hundred pages per step: the writers of a busy server get the lock between steps.
    const progress = await db.backup(partial, { progress: () => 256 });
    const counts = await checkedDatabase(partial);
    renameSync(partial, target);
    return { ...counts, bytes: progress.totalPages * (db.pragma('page_size', { simple: true }) as number) };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
}

/**
 * `edgecert restore FILE`: a backup into a data directory that holds no database yet. The keys
 * in it stay sealed under the master key they were sealed with: the restored server starts only
 * with that key (EDGECERT_MASTER_KEY, or its master.key in the data directory).
 */
export async function restoreSqlite(databaseUrl: string, backup: string): Promise<{ hostnames: number; certificates: number; file: string }> {
  const target = sqliteFile(databaseUrl, 'edgecert restore');
  if (existsSync(target) || existsSync(`${target}-wal`)) {
    throw new ConfigError('EDGECERT_DATA_DIR', `${target} already exists: restore into an empty data directory (nothing is overwritten)`);
  }
  if (!existsSync(backup)) throw new ConfigError('FILE', `there is no backup at ${backup}`);
  const counts = await checkedDatabase(backup);
  mkdirSync(path.dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  copyFileSync(backup, partial);
  renameSync(partial, target);
  return { ...counts, file: target };
}
