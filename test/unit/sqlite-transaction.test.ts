import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/storage/connect.js';

/** Store.transaction on SQLite (BEGIN IMMEDIATE … COMMIT / ROLLBACK), on a real in-memory database. */
let store: Store;
before(async () => {
  store = await openStore('sqlite::memory:');
  await store.migrate();
});
after(() => store.close());

const accounts = async () => (await store.db.selectFrom('accounts').select('id').execute()).map((r) => r.id);

test('a failing transaction is rolled back and its own error comes out', async () => {
  await assert.rejects(
    store.transaction(async (trx) => {
      await trx.insertInto('accounts').values({ id: 'gone', name: 'x', type: 'standard', created_on: 'now' }).execute();
      throw new Error('refused');
    }),
    /refused/,
  );
  assert.deepEqual(await accounts(), []);
});

test('when SQLite has already ended the transaction, the original error still comes out', async () => {
  // Stands for the errors on which SQLite rolls back by itself (SQLITE_FULL, SQLITE_IOERR, …).
  await assert.rejects(
    store.transaction(async (trx) => {
      await trx.insertInto('accounts').values({ id: 'gone2', name: 'x', type: 'standard', created_on: 'now' }).execute();
      await sql`rollback`.execute(trx);
      throw new Error('the disk is full');
    }),
    /the disk is full/,
  );
  assert.deepEqual(await accounts(), []);
  // The connection is usable afterwards.
  await store.transaction((trx) => trx.insertInto('accounts').values({ id: 'kept', name: 'x', type: 'standard', created_on: 'now' }).execute());
  assert.deepEqual(await accounts(), ['kept']);
});

test('a new SQLite database has 16 KiB pages (pack certificate rows of 1.5–3.5 KB fill them)', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { sql } = await import('kysely');
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-pages-'));
  const fresh = await openStore(`sqlite:${path.join(dir, 'edgecert.db')}`);
  try {
    await fresh.migrate();
    const { rows } = await sql<{ page_size: number }>`pragma page_size`.execute(fresh.db);
    assert.equal(rows[0]!.page_size, 16384);
  } finally {
    await fresh.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
