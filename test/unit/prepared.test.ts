import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/storage/connect.js';
import { prepared } from '../../src/storage/prepared.js';

/** Queries compiled once and run with new values (src/storage/prepared.ts), on a real SQLite store. */
let store: Store;
before(async () => {
  store = await openStore('sqlite::memory:');
  await store.migrate();
  await store.db.insertInto('accounts').values({ id: 'acc', name: 'A', type: 'standard', created_on: 'now' }).execute();
});
after(() => store.close());

const accountByName = prepared((db, p: { name: string }) => db.selectFrom('accounts').select(['id', 'name']).where('name', '=', p.name).where('type', '=', 'standard'));
const rename = prepared((db, p: { id: string; name: string }) => db.updateTable('accounts').set({ name: p.name }).where('id', '=', p.id));
const addAccount = prepared((db, p: { id: string; name: string }) =>
  db.insertInto('accounts').values({ id: p.id, name: p.name, type: 'standard', created_on: 'now' }).returning(['id', 'type']),
);

test('runs with each call’s values, keeps constants, and returns rows', async () => {
  assert.deepEqual(await accountByName.execute(store.db, { name: 'A' }), [{ id: 'acc', name: 'A' }]);
  assert.deepEqual(await accountByName.execute(store.db, { name: 'nobody' }), []);
  assert.deepEqual(await addAccount.execute(store.db, { id: 'acc2', name: 'B' }), [{ id: 'acc2', type: 'standard' }]);
  await rename.execute(store.db, { id: 'acc2', name: 'B2' });
  assert.deepEqual(await accountByName.execute(store.db, { name: 'B2' }), [{ id: 'acc2', name: 'B2' }]);
  // Inside a transaction (another Kysely instance of the same store) too, and rolled back with it.
  await assert.rejects(
    store.transaction(async (trx) => {
      await rename.execute(trx, { id: 'acc', name: 'renamed' });
      assert.equal((await accountByName.execute(trx, { name: 'renamed' })).length, 1);
      throw new Error('roll back');
    }),
    /roll back/,
  );
  assert.deepEqual(await accountByName.execute(store.db, { name: 'A' }), [{ id: 'acc', name: 'A' }]);
});

test('a placeholder that does not become a parameter of its own is refused on first use', async () => {
  const inPattern = prepared((db, p: { part: string }) => db.selectFrom('accounts').selectAll().where('name', 'like', `%${p.part}%`));
  await assert.rejects(inPattern.execute(store.db, { part: 'A' }), /part of a larger value/);
  const asIdentifier = prepared((db, p: { column: 'name' }) => db.selectFrom('accounts').select(p.column));
  await assert.rejects(asIdentifier.execute(store.db, { column: 'name' }), /in the SQL text/);
  const inJavaScript = prepared((db, p: { all: boolean }) => (p.all ? db.selectFrom('accounts').selectAll() : db.selectFrom('accounts').select('id')));
  await assert.rejects(inJavaScript.execute(store.db, { all: true }), /did not become a parameter/);
});
