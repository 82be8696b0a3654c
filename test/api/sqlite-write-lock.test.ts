import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { codes } from '../helpers/state.js';
import { holdRowLock } from '../helpers/process.js';

/**
 * SQLite has one write lock per database file. When another process (a second API node,
 * `edgecert token create`) holds it, a write waits for it without stopping this process's event
 * loop, and after 5 s gives up with a 503 that changes nothing. SQLite only: PostgreSQL waits
 * for row locks on its own connections.
 */
let s: TestServer;
let zoneId: string;
let hostnameId: string;

before(async () => {
  s = await startTestServer();
  zoneId = (await s.client.zones.create({ name: 'lock-saas.com', account: { id: s.accountId } })).id;
  hostnameId = (await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'app.lock-customer.com' })).body.result.id;
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

/** Another process takes the write lock (and the hostname's row) for `ms`. */
const holdWriteLock = (ms: number) => holdRowLock(s.databaseUrl, 'custom_hostnames', hostnameId, ms);

const patchOrigin = (origin: string) => s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${hostnameId}`, { custom_origin_server: origin });
const currentOrigin = async () => (await s.api('GET', `/zones/${zoneId}/custom_hostnames/${hostnameId}`)).body.result.custom_origin_server;

describe('SQLite write lock held by another process', { skip: process.env.EDGECERT_TEST_DIALECT === 'postgres' ? 'SQLite only' : false }, () => {
  test('a write waits for it without blocking the event loop, then goes through', async () => {
    const lock = await holdWriteLock(1500);
    const patch = patchOrigin('origin-1.lock-saas.com').then((res) => ({ res, at: Date.now() }));
    // While the PATCH waits (it has no certificate to validate, so it reaches its transaction
    // within milliseconds), this process keeps answering: /healthz every 250 ms for a second.
    const answered: number[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 250));
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      answered.push(Date.now());
    }
    const releasedAt = await lock.released;
    // Before the wait moved out of SQLite's busy handler, this process slept until the lock was released.
    assert.ok(answered.every((t) => t < releasedAt), `/healthz answered ${answered.map((t) => t - releasedAt).join(" / ")} ms after the other process released the lock`);
    const { res, at } = await patch;
    assert.ok(at >= releasedAt, 'the PATCH waited for the lock');
    assert.equal(res.status, 202, JSON.stringify(res.body.errors));
    assert.equal(await currentOrigin(), 'origin-1.lock-saas.com');
  });

  test('held for longer than 5 s: 503/1826 with retry-after, and nothing changes', async () => {
    const lock = await holdWriteLock(6500);
    const res = await patchOrigin('origin-2.lock-saas.com');
    const answeredAt = Date.now();
    assert.equal(res.status, 503);
    assert.deepEqual(codes(res.body), [1826]);
    assert.match(res.body.errors[0].message, /locked by another process.*Retry/);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(res.body.success, false);
    assert.ok(answeredAt < (await lock.released), 'the 503 came while the lock was still held');
    assert.equal(await currentOrigin(), 'origin-1.lock-saas.com');
    // Once the lock is free the same request goes through.
    assert.equal((await patchOrigin('origin-2.lock-saas.com')).status, 202);
    assert.equal(await currentOrigin(), 'origin-2.lock-saas.com');
  });
});
