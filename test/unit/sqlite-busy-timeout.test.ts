import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/storage/connect.js';
import { holdRowLock } from '../helpers/process.js';
import { removeDir } from '../helpers/server.js';

/**
 * SQLite's busy timeout is switched only when a statement needs the other setting (see
 * BusyTimeout in connect.ts): transactions and reads run with the short one, a write outside a
 * transaction with the long one. On a real database file, with another process holding the write lock.
 */
let dir: string;
let url: string;
let store: Store;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgecert-test-busy-'));
  url = `sqlite:${path.join(dir, 'edgecert.db')}`;
  store = await openStore(url);
  await store.migrate();
  await store.db.insertInto('accounts').values({ id: 'held', name: 'x', type: 'standard', created_on: 'now' }).execute();
});
after(async () => {
  await store.close();
  removeDir(dir);
});

const account = (id: string) => ({ id, name: id, type: 'standard', created_on: 'now' });
const ids = async () => (await store.db.selectFrom('accounts').select('id').orderBy('id').execute()).map((r) => r.id);

test('after a transaction, a write outside one still waits for another process’s write lock', async () => {
  // Leaves the connection on the short timeout, as every PUT does.
  await store.transaction((trx) => trx.insertInto('accounts').values(account('a1')).execute());
  const lock = await holdRowLock(url, 'accounts', 'held', 400);
  // A read never waits for the write lock in WAL mode.
  const readStarted = Date.now();
  assert.deepEqual(await ids(), ['a1', 'held']);
  assert.ok(Date.now() - readStarted < 300, 'the read waited for the write lock');
  // With the short timeout this insert would fail with SQLITE_BUSY after 10 ms.
  await store.db.insertInto('accounts').values(account('a2')).execute();
  assert.ok(Date.now() >= (await lock.released), 'the insert went through only once the lock was released');
  assert.deepEqual(await ids(), ['a1', 'a2', 'held']);
});

test('after a write outside a transaction, a transaction waits for the lock with timers again', async () => {
  await store.db.insertInto('accounts').values(account('b1')).execute();
  const lock = await holdRowLock(url, 'accounts', 'held', 600);
  // Timers keep running while the transaction waits: SQLite's busy handler would block them.
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 50);
  try {
    await store.transaction((trx) => trx.insertInto('accounts').values(account('b2')).execute());
  } finally {
    clearInterval(ticker);
  }
  assert.ok(Date.now() >= (await lock.released));
  assert.ok(ticks >= 5, `only ${ticks} timer ticks while the transaction waited ~600 ms`);
  assert.ok((await ids()).includes('b2'));
});

test('the change feed’s sequence numbers are the rows’ own, without RETURNING', async () => {
  const feed = store.changes;
  const first = await store.write({ kind: 'zone', zoneId: null, entityId: 'z1' }, (_trx, tx) => tx.sequence());
  const second = await store.write({ kind: 'zone', zoneId: null, entityId: 'z2' }, (_trx, tx) => tx.sequence());
  assert.equal(second, first + 1);
  assert.deepEqual(
    (await feed.since(store.db, first - 1)).map((c) => [c.seq, c.entity_id]),
    [[first, 'z1'], [second, 'z2']],
  );
});
