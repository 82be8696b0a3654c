import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { TokensService } from '../../src/resources/tokens/service.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

const errorCodes = (body: any) => body.errors.map((e: any) => e.code);

describe('tokens and accounts', () => {
  test('GET /user/tokens/verify through the SDK', async () => {
    const r = await s.client.user.tokens.verify();
    assert.equal(r.status, 'active');
    assert.match(r.id, /^[0-9a-f]{32}$/);
    assert.equal((await s.client.user.tokens.verify()).id, r.id, 'the same token has the same id on every request');
  });

  test('accounts list and get', async () => {
    const accounts = [];
    for await (const a of s.client.accounts.list()) accounts.push(a);
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0]!.name, 'default');
    assert.equal(accounts[0]!.id, s.accountId);
    const one = await s.client.accounts.get({ account_id: s.accountId });
    assert.equal(one.id, s.accountId);
    const other = await s.api('GET', `/accounts/${'0'.repeat(32)}`);
    assert.equal(other.status, 404);
  });
});

describe('zones', () => {
  test('create, get, edit, list and delete through the SDK', async () => {
    const zone = await s.client.zones.create({ name: 'Crud-Example.com', account: { id: s.accountId } });
    assert.match(zone.id, /^[0-9a-f]{32}$/);
    assert.equal(zone.name, 'crud-example.com');
    assert.equal(zone.account.id, s.accountId);
    const got = await s.client.zones.get({ zone_id: zone.id });
    assert.equal(got.name, 'crud-example.com');
    const edited = await s.client.zones.edit({ zone_id: zone.id, paused: true });
    assert.equal(edited.paused, true);
    const listed = await s.client.zones.list({ name: 'crud-example.com' });
    assert.deepEqual(listed.result.map((z) => z.id), [zone.id]);
    const deleted = await s.client.zones.delete({ zone_id: zone.id });
    assert.equal(deleted?.id, zone.id);
    await assert.rejects(s.client.zones.get({ zone_id: zone.id }), (e: any) => e.status === 404);
  });

  test('duplicate zone is 400/1061 and invalid names are refused', async () => {
    await s.client.zones.create({ name: 'dup-example.com', account: { id: s.accountId } });
    const dup = await s.api('POST', '/zones', { name: 'DUP-example.com', account: { id: s.accountId } });
    assert.equal(dup.status, 400);
    assert.deepEqual(errorCodes(dup.body), [1061]);
    assert.equal(dup.headers.get('x-should-retry'), 'false');
    for (const name of ['no-dot', 'a..b.com', '-lead.com', 'x'.repeat(64) + '.com', '1.2.3.4', 'bad_char!.com', 'ünicode.com']) {
      const r = await s.api('POST', '/zones', { name, account: { id: s.accountId } });
      assert.equal(r.status, 400, name);
      assert.equal(r.body.success, false);
      assert.equal(r.body.result, null);
    }
  });

  test('list filters, ordering and paging (SDK auto-pagination stops on an empty page)', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `page${String(i).padStart(2, '0')}.example.net`);
    for (const name of names) await s.client.zones.create({ name, account: { id: s.accountId } });
    const seen: string[] = [];
    for await (const z of s.client.zones.list({ name: 'ends_with:.example.net', per_page: 5 })) seen.push(z.name);
    assert.deepEqual(seen, names);
    const page = await s.api('GET', '/zones?name=starts_with:page0&per_page=5&page=2&direction=desc');
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.result_info, { page: 2, per_page: 5, count: 5, total_count: 10, total_pages: 2 });
    assert.deepEqual(page.body.result.map((z: any) => z.name), names.slice(0, 10).reverse().slice(5, 10));
    const past = await s.api('GET', '/zones?name=starts_with:page&page=99');
    assert.equal(past.status, 200);
    assert.deepEqual(past.body.result, []);
    const clamped = await s.api('GET', '/zones?per_page=1000');
    assert.equal(clamped.body.result_info.per_page, 50);
    const byStatus = await s.api('GET', '/zones?status=active&name=contains:page1');
    assert.deepEqual(byStatus.body.result.map((z: any) => z.name), names.slice(10));
    const otherAccount = await s.api('GET', `/zones?account.id=${'f'.repeat(32)}`);
    assert.deepEqual(otherAccount.body.result, []);
    const bad = await s.api('GET', '/zones?status=bogus');
    assert.equal(bad.status, 400);
  });
});

describe('authentication and authorisation', () => {
  test('no credentials: 400/9106', async () => {
    const r = await fetch(`${s.baseURL}/zones`);
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(await r.json()), [9106]);
    assert.equal(r.headers.get('x-should-retry'), 'false');
  });

  test('malformed headers: 400/6003 with the error chain', async () => {
    const r1 = await s.api('GET', '/zones', undefined, { authorization: 'Token abc' });
    assert.equal(r1.status, 400);
    assert.deepEqual(errorCodes(r1.body), [6003]);
    assert.deepEqual(r1.body.errors[0].error_chain.map((e: any) => e.code), [6111]);
    const r2 = await fetch(`${s.baseURL}/zones`, { headers: { 'x-auth-email': 'not-an-email', 'x-auth-key': 'short' } });
    const b2: any = await r2.json();
    assert.equal(r2.status, 400);
    assert.deepEqual(b2.errors[0].error_chain.map((e: any) => e.code), [6102, 6103]);
  });

  test('unknown token: 403/9109, through the SDK too', async () => {
    const r = await s.api('GET', '/zones', undefined, { authorization: 'Bearer ' + 'x'.repeat(43) });
    assert.equal(r.status, 403);
    assert.deepEqual(errorCodes(r.body), [9109]);
    const client = s.clientFor('y'.repeat(43));
    await assert.rejects(client.user.tokens.verify(), Cloudflare.PermissionDeniedError);
  });

  test('global API key: X-Auth-Email + X-Auth-Key', async () => {
    const email = 'ops@example.org';
    const key = 'a'.repeat(37);
    const t = await startTestServer({ env: { EDGECERT_BOOTSTRAP_EMAIL: email, EDGECERT_BOOTSTRAP_API_KEY: key } });
    try {
      const client = new Cloudflare({ apiEmail: email, apiKey: key, baseURL: t.baseURL, maxRetries: 0 });
      const zone = await client.zones.create({ name: 'key-auth.example.com', account: { id: t.accountId } });
      assert.equal(zone.name, 'key-auth.example.com');
      const wrong = await fetch(`${t.baseURL}/zones`, { headers: { 'x-auth-email': email, 'x-auth-key': 'b'.repeat(37) } });
      assert.equal(wrong.status, 403);
    } finally {
      await t.close();
      removeDir(t.dataDir);
    }
  });

  test('permissions and scope: 403/10000', async () => {
    const tokens = new TokensService(s.running.ctx);
    const zoneA = await s.client.zones.create({ name: 'scope-a.example.com', account: { id: s.accountId } });
    const zoneB = await s.client.zones.create({ name: 'scope-b.example.com', account: { id: s.accountId } });
    const readA = await tokens.create({ name: 'read A', permissions: ['zone:read'], zoneIds: [zoneA.id] });
    const clientA = s.clientFor(readA.value);
    assert.equal((await clientA.zones.get({ zone_id: zoneA.id })).id, zoneA.id);
    await assert.rejects(clientA.zones.get({ zone_id: zoneB.id }), (e: any) => e.status === 403 && e.errors[0].code === 10000);
    await assert.rejects(clientA.zones.edit({ zone_id: zoneA.id, paused: true }), (e: any) => e.status === 403);
    await assert.rejects(clientA.zones.create({ name: 'nope.example.com', account: { id: s.accountId } }), (e: any) => e.status === 403);
    const listed = await clientA.zones.list();
    assert.deepEqual(listed.result.map((z) => z.id), [zoneA.id]);
    const sslOnly = await tokens.create({ name: 'account reader', permissions: ['account:read'] });
    await assert.rejects(s.clientFor(sslOnly.value).zones.list(), (e: any) => e.status === 403);
    assert.equal((await s.clientFor(readA.value).user.tokens.verify()).id, readA.id);
  });

  test('tokens are stored hashed, never in clear', async () => {
    const tokens = new TokensService(s.running.ctx);
    const t = await tokens.create({ name: 'hash check', permissions: ['zone:read'] });
    const row = await s.running.ctx.store.db.selectFrom('tokens').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow();
    assert.notEqual(row.token_hash, t.value);
    assert.ok(!JSON.stringify(row).includes(t.value));
    assert.match(t.value, /^[A-Za-z0-9_-]{40,}$/);
  });
});

describe('request handling', () => {
  test('malformed JSON: 400/1400 and nothing created', async () => {
    const r = await s.api('POST', '/zones', '{"name": "broken.example.com",');
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(r.body), [1400]);
    const z = await s.api('GET', '/zones?name=broken.example.com');
    assert.deepEqual(z.body.result, []);
  });

  test('body over 1 MiB: 413 with the envelope', async () => {
    const r = await s.api('POST', '/zones', JSON.stringify({ name: 'big.example.com', pad: 'x'.repeat(1024 * 1024 + 10) }));
    assert.equal(r.status, 413);
    assert.equal(r.body.success, false);
    assert.equal(r.headers.get('x-should-retry'), 'false');
  });

  test('wrong content type: 415 with the envelope', async () => {
    const r = await s.api('POST', '/zones', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 415);
    assert.equal(r.body.success, false);
  });

  test('unknown route and wrong-shaped ids: 400/7003 + 7000', async () => {
    const unknown = await s.api('GET', '/nothing/here');
    assert.equal(unknown.status, 400);
    assert.ok(errorCodes(unknown.body).includes(7000));
    assert.equal(unknown.headers.get('x-should-retry'), 'false', 'the not-found handler sends the retry hint too');
    const badId = await s.api('GET', '/zones/not-a-zone-id');
    assert.equal(badId.status, 400);
    assert.deepEqual(errorCodes(badId.body), [7003, 7000]);
    assert.match(badId.body.errors[0].message, /Could not route to \/zones\/not-a-zone-id/);
    const upper = await s.api('GET', `/zones/${'A'.repeat(32)}`);
    assert.equal(upper.status, 400);
  });

  test('logs never hold the Authorization header or the token', async () => {
    await s.api('GET', '/zones');
    const all = s.logs.join('');
    assert.ok(all.length > 0, 'the server logged something');
    assert.ok(!all.includes(s.token));
    assert.ok(!/authorization/i.test(all));
  });
});
