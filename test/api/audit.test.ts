import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import { sql } from 'kysely';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { auditLogsRepository } from '../../src/resources/audit-logs/repository.js';

/**
 * The audit log through the official SDK (client.auditLogs.list): one entry per write through
 * the API, with who, what, which resource and the values before and after, never a private key.
 */
let s: TestServer;
let pki: TestPki;
const EMAIL = 'ops@platform.test';
const API_KEY = 'k'.repeat(40);

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem, env: { EDGECERT_BOOTSTRAP_EMAIL: EMAIL, EDGECERT_BOOTSTRAP_API_KEY: API_KEY, EDGECERT_AUDIT_RETENTION: '1h' } });
});
after(() => s?.close());

async function all(params: Record<string, unknown> = {}) {
  const out: any[] = [];
  for await (const entry of s.client.auditLogs.list({ account_id: s.accountId, ...params } as any)) out.push(entry);
  return out;
}

test('every write through the API is an entry; refused writes and reads are not; keys never appear', async () => {
  const before = (await all()).length;
  const zone = await s.client.zones.create({ name: 'audited.test', account: { id: s.accountId } });
  const [rsa, ecdsa] = await Promise.all([pki.leaf({ hosts: ['a.audited.test'], keyType: 'rsa' }), pki.leaf({ hosts: ['a.audited.test'], keyType: 'ecdsa' })]);
  const host = (await s.client.customHostnames.create({
    zone_id: zone.id,
    hostname: 'a.audited.test',
    ssl: { custom_cert_bundle: [rsa!, ecdsa!].map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) } as any,
  })) as any;
  await s.client.customHostnames.edit(host.id, { zone_id: zone.id, custom_origin_server: 'origin-two.audited.test' });
  const replacement = await pki.leaf({ hosts: ['a.audited.test'], keyType: 'ecdsa' });
  const oldEcdsa = host.ssl.certificates.find((c: any) => c.key_type === 'ecdsa');
  await s.client.customHostnames.certificatePack.certificates.update(oldEcdsa.id, {
    zone_id: zone.id,
    custom_hostname_id: host.id,
    certificate_pack_id: host.ssl.id,
    custom_certificate: replacement.chainPem,
    custom_key: replacement.keyPem,
  });
  const rsaId = host.ssl.certificates.find((c: any) => c.key_type === 'rsa').id;
  await s.client.customHostnames.certificatePack.certificates.delete(rsaId, { zone_id: zone.id, custom_hostname_id: host.id, certificate_pack_id: host.ssl.id });
  // Refused (a duplicate hostname, the last certificate): nothing recorded. Reads: nothing either.
  await assert.rejects(s.client.customHostnames.create({ zone_id: zone.id, hostname: 'a.audited.test', ssl: { method: 'http', type: 'dv' } }));
  await assert.rejects(s.client.customHostnames.certificatePack.certificates.delete(oldEcdsa.id, { zone_id: zone.id, custom_hostname_id: host.id, certificate_pack_id: host.ssl.id }));
  await s.client.customHostnames.get(host.id, { zone_id: zone.id });
  // A write with the global API key names its email.
  const byKey = new Cloudflare({ apiEmail: EMAIL, apiKey: API_KEY, baseURL: s.baseURL, maxRetries: 0 });
  await byKey.customHostnames.create({ zone_id: zone.id, hostname: 'b.audited.test', ssl: { method: 'txt', type: 'dv' } });

  const entries = await all();
  assert.equal(entries.length - before, 6, entries.map((e) => `${e.action.type} ${e.resource.type}`).join(', '));
  const newest = entries.slice(0, 6).reverse(); // newest first by default
  assert.deepEqual(
    newest.map((e) => [e.action.type, e.resource.type]),
    [['add', 'zone'], ['add', 'custom_hostname'], ['change', 'custom_hostname'], ['change', 'certificate'], ['delete', 'certificate'], ['add', 'custom_hostname']],
  );
  const [zoneAdd, hostAdd, hostEdit, certPut, certDelete, keyAdd] = newest;
  assert.equal(zoneAdd.resource.id, zone.id);
  assert.equal(hostAdd.resource.id, host.id);
  assert.equal(hostAdd.actor.ip, '127.0.0.1');
  assert.equal(hostAdd.actor.type, 'user');
  assert.equal(hostAdd.action.result, true);
  assert.equal(hostAdd.owner.id, s.accountId);
  assert.equal(hostAdd.interface, 'API');
  assert.match(hostAdd.when, /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(hostAdd.newValueJson.ssl.custom_cert_bundle[0].custom_key, '[redacted]');
  assert.match(hostAdd.newValueJson.ssl.custom_cert_bundle[0].custom_certificate, /^certificate sha256:[0-9a-f]{64}$/);
  assert.equal(hostEdit.oldValueJson.custom_origin_server, undefined, 'no origin before');
  assert.equal(hostEdit.newValueJson.custom_origin_server, 'origin-two.audited.test');
  assert.equal(certPut.resource.id, oldEcdsa.id);
  assert.equal(certPut.oldValueJson.fingerprint_sha256, oldEcdsa.fingerprint_sha256);
  assert.equal(certDelete.resource.id, rsaId);
  assert.equal(certDelete.newValue, undefined);
  assert.equal(keyAdd.actor.email, EMAIL);
  assert.equal(hostAdd.actor.email, undefined);
  // No private key anywhere: not a PEM header, not a line of one.
  const text = JSON.stringify(entries);
  assert.doesNotMatch(text, /PRIVATE KEY/);
  for (const pem of [rsa!.keyPem, ecdsa!.keyPem, replacement.keyPem]) assert.ok(!text.includes(pem.split('\n')[2]!), 'key material recorded');
});

test('the documented filters, order and paging', async () => {
  const entries = await all();
  const deletes = await all({ action: { type: 'delete' } });
  assert.ok(deletes.length >= 1 && deletes.every((e) => e.action.type === 'delete'));
  const byEmail = await all({ actor: { email: EMAIL } });
  assert.ok(byEmail.length >= 1 && byEmail.every((e) => e.actor.email === EMAIL));
  assert.equal((await all({ actor: { ip: '192.0.2.1' } })).length, 0);
  assert.equal((await all({ actor: { ip: '127.0.0.1' } })).length, entries.length);
  const inZone = await all({ zone: { name: 'audited.test' } });
  assert.ok(inZone.length >= 5 && inZone.length < entries.length + 1);
  assert.deepEqual((await all({ id: entries[2].id })).map((e) => e.id), [entries[2].id]);
  assert.equal((await all({ id: 'not-an-id' })).length, 0);
  const asc = await all({ direction: 'asc' });
  assert.deepEqual(asc.map((e) => e.id), [...entries].reverse().map((e) => e.id));
  assert.equal((await all({ since: '2999-01-01' })).length, 0);
  assert.equal((await all({ before: '2000-01-01T00:00:00Z' })).length, 0);
  assert.equal((await all({ since: entries[entries.length - 1].when })).length, entries.length);
  const page = await s.api('GET', `/accounts/${s.accountId}/audit_logs?per_page=2&page=2`);
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.result.map((e: any) => e.id), entries.slice(2, 4).map((e) => e.id));
  assert.equal(page.body.result_info.total_count, entries.length);
  const bad = await s.api('GET', `/accounts/${s.accountId}/audit_logs?since=yesterday`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.errors[0].message, /since/);
});

test('a zone-scoped token cannot read the account-wide log; old entries are pruned after the retention', async () => {
  const zones = await s.api('GET', '/zones');
  const { TokensService } = await import('../../src/resources/tokens/service.js');
  const tokens = new TokensService(s.running.ctx);
  const scoped = await tokens.create({ name: 'zone only', permissions: ['account:read', 'zone:read'], accountId: s.accountId, zoneIds: [zones.body.result[0].id] });
  const refused = await s.api('GET', `/accounts/${s.accountId}/audit_logs`, undefined, { authorization: `Bearer ${scoped.value}` });
  assert.equal(refused.status, 403);
  const reader = await tokens.create({ name: 'account reader', permissions: ['account:read'], accountId: s.accountId });
  assert.equal((await s.api('GET', `/accounts/${s.accountId}/audit_logs`, undefined, { authorization: `Bearer ${reader.value}` })).status, 200);
  // An entry older than EDGECERT_AUDIT_RETENTION (1h here) is gone after the next prune (at start).
  await s.running.ctx.store.write(null, (trx) =>
    auditLogsRepository.insert(trx, {
      account_id: s.accountId,
      when: new Date(Date.now() - 2 * 3_600_000).toISOString(),
      action_type: 'add',
      actor_id: 'x',
      actor_email: null,
      actor_ip: '127.0.0.1',
      actor_type: 'user',
      resource_type: 'zone',
      resource_id: null,
      zone_id: null,
      zone_name: null,
      old_value: null,
      new_value: null,
      metadata: '{}',
    }),
  );
  const old = await all({ before: new Date(Date.now() - 3_600_000).toISOString() });
  assert.equal(old.length, 1);
  s = await s.restart();
  assert.equal((await all({ id: old[0].id })).length, 0);
  assert.ok((await all()).length > 5, 'newer entries stay');
});

test('the entry is written in the write\'s own transaction: when it cannot be, the change is not made either', async () => {
  const zone = (await s.api('GET', '/zones')).body.result[0];
  const host = (await s.api('POST', `/zones/${zone.id}/custom_hostnames`, { hostname: 'atomic.audited.test', ssl: { method: 'txt', type: 'dv' } })).body.result;
  await s.running.ctx.store.write(null, (trx) => sql`alter table audit_logs rename to audit_logs_away`.execute(trx));
  try {
    const r = await s.api('PATCH', `/zones/${zone.id}/custom_hostnames/${host.id}`, { custom_origin_server: 'changed.audited.test' });
    assert.ok(r.status >= 500, `refused (${r.status})`);
  } finally {
    await s.running.ctx.store.write(null, (trx) => sql`alter table audit_logs_away rename to audit_logs`.execute(trx));
  }
  const after = (await s.api('GET', `/zones/${zone.id}/custom_hostnames/${host.id}`)).body.result;
  assert.equal(after.custom_origin_server, undefined, 'the PATCH was rolled back with its entry');
});
