import { openStore } from '../../src/storage/connect.js';

/**
 * Holds one row's lock from a process of its own (SQLite's busy wait blocks the event loop of
 * any process that waits for the lock, so the holder cannot live in the test process):
 * `lock-holder.ts <database url> <table> <id> <ms>` prints "locked", holds the row for <ms>,
 * then commits, prints "released <epoch ms>" and exits.
 */
const [databaseUrl, table, id, ms] = process.argv.slice(2) as [string, 'mtls_certificates', string, string];
const store = await openStore(databaseUrl);
await store.transaction(async (trx) => {
  if (!(await store.lockRow(trx, table, id))) throw new Error(`no ${table} row ${id}`);
  console.log('locked');
  await new Promise((r) => setTimeout(r, Number(ms)));
});
console.log(`released ${Date.now()}`);
await store.close();
