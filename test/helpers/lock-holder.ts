import { openStore, type LockableTable } from '../../src/storage/connect.js';

/**
 * Holds one row's lock (and on SQLite the database's write lock) from a process of its own, as
 * another node would: `lock-holder.ts <database url> <table> <id> <ms> [delete]` prints "locked",
 * holds the row for <ms> (then deletes it, with `delete`), commits, prints "released <epoch ms>"
 * and exits. See holdRowLock.
 */
const [databaseUrl, table, id, ms, then] = process.argv.slice(2) as [string, LockableTable, string, string, string | undefined];
const store = await openStore(databaseUrl);
await store.write(null, async (trx, tx) => {
  if (!(await tx.lock(table, id))) throw new Error(`no ${table} row ${id}`);
  console.log('locked');
  await new Promise((r) => setTimeout(r, Number(ms)));
  if (then === 'delete') await trx.deleteFrom(table).where('id', '=', id).execute();
});
console.log(`released ${Date.now()}`);
await store.close();
