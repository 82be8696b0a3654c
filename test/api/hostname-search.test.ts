import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { startTestServer, removeDir, onPostgres, type TestServer } from '../helpers/server.js';
import { insertPrepared, prepareHostname } from '../../src/resources/custom-hostnames/service.js';
import { narrowingQuery, trigramsOf } from '../../src/resources/custom-hostnames/hostname-search.js';

/**
 * hostname.contain answers exactly what a substring test of every hostname answers, whichever
 * way it is read (SQLite: through the trigram index when the value has a rare trigram, a scan
 * when it has none; PostgreSQL: pg_trgm), in every order, on shallow and deep pages, and after
 * deletes, a zone's cascade and (SQLite) VACUUM.
 */
let s: TestServer;
let zoneId: string;
let otherZoneId: string;
let names: string[] = [];
/** More than the probe limit (2,000) share `app`, `.cu`, `tes`…: those trigrams are too common to narrow by. */
const N = 2600;

before(async () => {
  s = await startTestServer();
  zoneId = (await s.client.zones.create({ name: 'search-saas.com', account: { id: s.accountId } })).id;
  otherZoneId = (await s.client.zones.create({ name: 'other-saas.com', account: { id: s.accountId } })).id;
  const ctx = s.running.ctx;
  const seed = async (zone: string, hostnames: string[]) => {
    for (let start = 0; start < hostnames.length; start += 500) {
      const batch = hostnames.slice(start, start + 500).map((hostname) => prepareHostname(ctx, zone, { hostname }));
      await ctx.store.transaction((trx) => insertPrepared(ctx, trx, batch));
    }
  };
  names = Array.from({ length: N }, (_, i) => `app${i}.customer${i % 97}.test`).concat(['*.wild-card.test', 'x-y_z.test', 'shop.customer42.example']);
  await seed(zoneId, names);
  // Same substrings in another zone: never part of this zone's answers.
  await seed(otherZoneId, ['app1.customer42.elsewhere', 'customer42.test.other']);
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

const list = (zone: string, q: string) => s.api('GET', `/zones/${zone}/custom_hostnames?${q}`);

/**
 * The reference: the zone's hostnames holding `value` (instr/strpos: no LIKE, no index), in the
 * order's sort, read by the database so that its collation decides ties as the API's does.
 */
async function reference(value: string, order: 'ssl_status' | 'hostname desc' | 'created_at'): Promise<string[]> {
  const db = s.running.ctx.store.db;
  const holds = onPostgres() ? sql<boolean>`strpos(hostname, ${value}) > 0` : sql<boolean>`instr(hostname, ${value}) > 0`;
  let q = db.selectFrom('custom_hostnames').select('hostname').where('zone_id', '=', zoneId).where(holds);
  q = order === 'hostname desc' ? q.orderBy('hostname', 'desc') : q.orderBy(order).orderBy('hostname');
  return (await q.execute()).map((r) => r.hostname);
}

/** Every order × a first, a second and the last page, against the reference. */
async function checkContain(value: string) {
  const matching = names.filter((h) => h.includes(value));
  for (const [query, order] of [['order=ssl', 'ssl_status'], ['order=hostname&direction=desc', 'hostname desc'], ['order=created_at', 'created_at']] as const) {
    const expected = await reference(value, order);
    assert.deepEqual([...expected].sort(), [...matching].sort(), `${value}: the reference holds what a substring test finds`);
    for (const page of new Set([1, 2, Math.floor(expected.length / 50) + 1])) {
      const res = await list(zoneId, `per_page=50&page=${page}&${query}&hostname.contain=${encodeURIComponent(value)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.result_info.total_count, matching.length, `${value} ${query}: total`);
      const got = res.body.result.map((h: { hostname: string }) => h.hostname);
      assert.deepEqual(got, expected.slice((page - 1) * 50, page * 50), `${value} ${query} page ${page}`);
    }
  }
}

// Rare trigrams (customer42, app123.), common only (app, test, .customer), short (no trigram),
// absent, and the characters a hostname may hold besides letters and digits.
const VALUES = ['customer42', 'customer4', 'app123.', 'app1', 'test', '.customer', 'ap', '9', 'nothing-like-it', '-y_', '*.wild', 'er42.ex'];

test('hostname.contain answers what a substring test answers, in every order and page', async () => {
  for (const value of VALUES) await checkContain(value);
  // Deep pages (past the anchors' start, offset ≥ 1,000) of an unselective value.
  const deep = await list(zoneId, 'per_page=50&page=30&hostname.contain=app');
  assert.deepEqual(deep.body.result.map((h: { hostname: string }) => h.hostname), (await reference('app', 'ssl_status')).slice(29 * 50, 30 * 50));
  // Another zone's hostnames are not found.
  const other = await list(otherZoneId, 'per_page=50&hostname.contain=customer42');
  assert.deepEqual(other.body.result.map((h: { hostname: string }) => h.hostname).sort(), ['app1.customer42.elsewhere', 'customer42.test.other']);
});

test('after deletes and a zone cascade the answers stay exact', async () => {
  const gone = names[424]!;
  const [victim] = (await list(zoneId, `hostname=${gone}`)).body.result;
  assert.equal((await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${victim.id}`)).status, 200);
  names = names.filter((h) => h !== gone);
  // A new hostname is found at once.
  assert.equal((await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'new.customer42.test' })).status, 201);
  names.push('new.customer42.test');
  assert.equal((await s.client.zones.delete({ zone_id: otherZoneId }))?.id, otherZoneId);
  for (const value of ['customer42', 'app424.', 'elsewhere', 'new.']) await checkContain(value);
  if (onPostgres()) return;
  // The index holds exactly the table's hostnames (FTS5's own check against its content table).
  await sql`insert into custom_hostnames_search(custom_hostnames_search, rank) values ('integrity-check', 1)`.execute(s.running.ctx.store.db);
});

test('SQLite: the rarest trigrams narrow the search; a value without a rare one is scanned', { skip: onPostgres() }, async () => {
  const db = s.running.ctx.store.db;
  assert.deepEqual(trigramsOf('abcd'), ['abc', 'bcd']);
  assert.equal(trigramsOf('x'.repeat(3) + 'abcdefghijklmnopqrstuvwxyz').length, 12, 'a long value probes a few trigrams');
  // "customer42": r42 is in ~28 hostnames, "cus" in all 2,600.
  const narrowed = await narrowingQuery(db, 'customer42');
  assert.ok(narrowed?.startsWith('"r42"') || narrowed?.startsWith('"er4"'), String(narrowed));
  assert.equal(await narrowingQuery(db, '.customer'), undefined, 'every trigram is in every hostname');
  assert.equal(await narrowingQuery(db, 'ap'), undefined, 'no trigram');
  assert.equal(await narrowingQuery(db, 'zzzq'), '"zzz"', 'a trigram in no hostname: an empty answer at once');
});

test('SQLite: VACUUM keeps the rowids the index is keyed by', { skip: onPostgres() }, async () => {
  await sql`vacuum`.execute(s.running.ctx.store.db);
  for (const value of ['customer42', 'app123.']) await checkContain(value);
  await sql`insert into custom_hostnames_search(custom_hostnames_search, rank) values ('integrity-check', 1)`.execute(s.running.ctx.store.db);
});

test('SQLite: a rare value is read through the index, a common one by scanning (shown by taking one hostname out of the index)', { skip: onPostgres() }, async () => {
  const db = s.running.ctx.store.db;
  const victim = 'shop.customer42.example';
  const { rowid } = (await sql<{ rowid: number }>`select rowid from custom_hostnames where hostname = ${victim}`.execute(db)).rows[0]!;
  const total = async (value: string) => (await list(zoneId, `per_page=5&hostname.contain=${value}`)).body.result_info.total_count as number;
  const before = { rare: await total('er42.ex'), common: await total('.customer') };
  assert.equal(before.rare, 1);
  await sql`insert into custom_hostnames_search(custom_hostnames_search, rowid, hostname) values ('delete', ${rowid}, ${victim})`.execute(db);
  try {
    assert.equal(await total('er42.ex'), 0, 'rare trigrams: the index decides which rows are read');
    assert.equal(await total('.customer'), before.common, 'trigrams in every hostname: the zone is scanned');
  } finally {
    await sql`insert into custom_hostnames_search(custom_hostnames_search) values ('rebuild')`.execute(db);
  }
  assert.equal(await total('er42.ex'), 1);
});
