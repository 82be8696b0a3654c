import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, removeDir, onPostgres, type TestServer } from '../helpers/server.js';
import { ApiError, Errors } from '../../src/api/errors.js';
import { customHostnamesRepository } from '../../src/resources/custom-hostnames/repository.js';
import { insertPrepared, prepareHostname } from '../../src/resources/custom-hostnames/service.js';
import { codes } from '../helpers/state.js';

/**
 * Group commit on SQLite (storage/connect.ts): writes that arrive together share a transaction,
 * each in a savepoint of its own. Every caller gets its own answer, after the commit; a write
 * that fails leaves nothing (its change row and audit entry included) and takes no other write
 * with it; concurrent requests through the API keep every invariant (one of two creates of the
 * same hostname wins).
 */
let s: TestServer;
let zoneId: string;

before(async () => {
  s = await startTestServer();
  zoneId = (await s.client.zones.create({ name: 'grouped-saas.com', account: { id: s.accountId } })).id;
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

/** A create as the service writes it (change row and all), straight through store.write. */
function create(hostname: string, opts: { failAfterInsert?: boolean } = {}) {
  const ctx = s.running.ctx;
  const prepared = prepareHostname(ctx, zoneId, { hostname });
  return ctx.store.write({ kind: 'custom_hostname', zoneId, entityId: prepared.row.id }, async (trx) => {
    await insertPrepared(ctx, trx, [prepared]);
    // Fails after its rows are written: they must not survive.
    if (opts.failAfterInsert) throw Errors.duplicateHostname();
    return prepared.row.id;
  });
}

const changesOf = async (ids: string[]) =>
  (await s.running.ctx.store.db.selectFrom('changes').select('entity_id').where('entity_id', 'in', ids).execute()).map((r) => r.entity_id);

test('writes of one turn share a commit; the one that fails leaves nothing, the others commit', { skip: onPostgres() }, async () => {
  const stats = s.running.ctx.store.stats!;
  const before = { ...stats };
  const names = Array.from({ length: 10 }, (_, i) => `w${i}.grouped.test`);
  const outcomes = await Promise.allSettled(names.map((h, i) => create(h, { failAfterInsert: i === 4 })));
  assert.equal(stats.commits - before.commits, 1, 'ten writes, one commit');
  assert.equal(stats.writes - before.writes, 10);
  for (const [i, o] of outcomes.entries()) {
    if (i === 4) {
      assert.equal(o.status, 'rejected');
      assert.ok((o as PromiseRejectedResult).reason instanceof ApiError, 'its own error');
    } else assert.equal(o.status, 'fulfilled', `write ${i}`);
  }
  const db = s.running.ctx.store.db;
  const stored = await customHostnamesRepository.namesInZone(db, zoneId, names);
  assert.deepEqual([...stored].sort(), names.filter((_, i) => i !== 4).sort());
  const ids = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value as string] : []));
  assert.deepEqual((await changesOf(ids)).sort(), [...ids].sort(), 'one change row per committed write');
  // The kept counts agree with the rows (the failed write's count update was rolled back too).
  const list = await s.api('GET', `/zones/${zoneId}/custom_hostnames?per_page=5`);
  assert.equal(list.body.result_info.total_count, 9);
});

test('a commit takes at most 16 writes: the event loop is not held longer than that', { skip: onPostgres() }, async () => {
  const stats = s.running.ctx.store.stats!;
  const before = { ...stats };
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => create(`cap${i}.grouped.test`)));
  assert.equal(ids.length, 20);
  assert.deepEqual([stats.writes - before.writes, stats.commits - before.commits], [20, 2]);
});

test('concurrent API requests: each answered for itself, one create of a hostname wins, refusals write nothing', async () => {
  const path = `/zones/${zoneId}/custom_hostnames`;
  const distinct = Array.from({ length: 24 }, (_, i) => `c${i}.concurrent.test`);
  // Each name twice, and some bodies refused before they write.
  const bodies = [...distinct, ...distinct, ...Array.from({ length: 6 }, (_, i) => ({ hostname: `bad host ${i}` }))].map((b) => (typeof b === 'string' ? { hostname: b } : b));
  const auditBefore = (await s.api('GET', `/accounts/${s.accountId}/audit_logs?per_page=1000&action.type=add`)).body.result.length;
  const answers = await Promise.all(bodies.map((b) => s.api('POST', path, b)));
  for (const name of distinct) {
    const statuses = answers.filter((_, i) => bodies[i]!.hostname === name).map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, 409], name);
  }
  for (const a of answers.slice(48)) assert.deepEqual([a.status, codes(a.body)[0] !== undefined], [400, true]);
  const listed = await s.api('GET', `${path}?per_page=50&hostname.contain=concurrent`);
  assert.equal(listed.body.result_info.total_count, 24);
  const created = answers.filter((a) => a.status === 201).map((a) => a.body.result.id).sort();
  assert.deepEqual(listed.body.result.map((h: { id: string }) => h.id).sort(), created, 'the hostnames answered 201 are the ones stored');
  const auditAfter = (await s.api('GET', `/accounts/${s.accountId}/audit_logs?per_page=1000&action.type=add`)).body.result.length;
  assert.equal(auditAfter - auditBefore, 24, 'one audit entry per create that was answered 201');
});
