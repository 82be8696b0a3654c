import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type Leaf, type TestPki } from '../helpers/pki.js';
import { codes, snapshot } from '../helpers/state.js';

let s: TestServer;
let pki: TestPki;
let zoneId: string;
let rsa: Leaf;
let ecdsa: Leaf;
const HOST = 'shop.customer-one.com';

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'saas-provider.com', account: { id: s.accountId } })).id;
  rsa = await pki.leaf({ hosts: [HOST, 'www.customer-one.com'], keyType: 'rsa' });
  ecdsa = await pki.leaf({ hosts: [HOST], keyType: 'ecdsa' });
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const path = (p = '') => `/zones/${zoneId}/custom_hostnames${p}`;

describe('custom hostnames', () => {
  test('create without a certificate: 201, UUID ids, ownership verification, ssl pending', async () => {
    const res = await s.api('POST', path(), { hostname: 'Plain.Customer-Two.com.', custom_metadata: { plan: 'pro' } });
    assert.equal(res.status, 201);
    const h = res.body.result;
    assert.match(h.id, UUID);
    assert.match(h.ssl.id, UUID);
    assert.equal(h.hostname, 'plain.customer-two.com');
    assert.equal(h.status, 'active');
    assert.equal(h.ssl.status, 'pending_validation');
    assert.deepEqual(h.ssl.certificates, []);
    assert.deepEqual(h.custom_metadata, { plan: 'pro' });
    assert.equal(h.ownership_verification.name, '_cf-custom-hostname.plain.customer-two.com');
    assert.match(h.ownership_verification.value, UUID);
    assert.ok(h.ownership_verification_http.http_url.endsWith(`/.well-known/cf-custom-hostname-challenge/${h.id}`));
    assert.ok(h.created_at.endsWith('Z'));
  });

  test('create with a two-certificate bundle through the SDK: ECDSA describes the pack', async () => {
    const h = await s.client.customHostnames.create({
      zone_id: zoneId,
      hostname: HOST,
      custom_origin_server: 'origin.saas-provider.com',
      ssl: {
        bundle_method: 'force',
        settings: { http2: 'on', min_tls_version: '1.2' },
        custom_cert_bundle: [
          { custom_certificate: rsa.chainPem, custom_key: rsa.keyPem },
          { custom_certificate: ecdsa.chainPem, custom_key: ecdsa.keyPem },
        ],
      },
    });
    const ssl = h.ssl as any;
    assert.equal(ssl.status, 'active');
    assert.equal(ssl.bundle_method, 'force');
    assert.deepEqual(ssl.settings, { http2: 'on', min_tls_version: '1.2' });
    assert.equal(ssl.certificates.length, 2);
    const byType = Object.fromEntries(ssl.certificates.map((c: any) => [c.key_type, c]));
    for (const [type, leaf] of [['rsa', rsa], ['ecdsa', ecdsa]] as const) {
      const c = byType[type];
      const x = new X509Certificate(leaf.certPem);
      assert.match(c.id, UUID);
      assert.equal(c.serial_number, BigInt('0x' + x.serialNumber).toString(10));
      assert.equal(c.fingerprint_sha256, x.fingerprint256.replace(/:/g, '').toLowerCase());
      assert.equal(c.signature, 'ECDSAWithSHA256'); // both signed by the ECDSA intermediate
      assert.equal(c.issuer, 'edgecert Test CA');
      assert.equal(c.expires_on, new Date(x.validTo).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'));
    }
    assert.deepEqual(byType.rsa.hosts, [HOST, 'www.customer-one.com']);
    // top level = the ECDSA certificate
    assert.equal(ssl.serial_number, byType.ecdsa.serial_number);
    assert.deepEqual(ssl.hosts, [HOST]);
    assert.equal(h.custom_origin_server, 'origin.saas-provider.com');
    // The create answers from what it wrote; a GET reads it back: the same object.
    assert.deepEqual(await s.client.customHostnames.get(h.id, { zone_id: zoneId }), h);
    const raw = JSON.stringify(await s.api('GET', path(`/${h.id}`)));
    assert.ok(!raw.includes('PRIVATE KEY'), 'no private key in any answer');
    assert.ok(!raw.includes('custom_key'));
  });

  test('get, 404/1436 for an unknown id, 400/7003 for a malformed one', async () => {
    const [first] = (await s.api('GET', path(`?hostname=${HOST}`))).body.result;
    const got = await s.client.customHostnames.get(first.id, { zone_id: zoneId });
    assert.equal(got.hostname, HOST);
    const missing = await s.api('GET', path('/6f1c2c65-2b8f-4e41-9d6c-5a1c3d7e9b10'));
    assert.equal(missing.status, 404);
    assert.deepEqual(codes(missing.body), [1436]);
    const malformed = await s.api('GET', path('/not-a-uuid'));
    assert.equal(malformed.status, 400);
    assert.equal(codes(malformed.body)[0], 7003);
  });

  test('a list page describes each hostname as GET does, without the certificate PEM (GET alone carries it)', async () => {
    const [listed] = (await s.api('GET', path(`?hostname=${HOST}`))).body.result;
    const got = (await s.api('GET', path(`/${listed.id}`))).body.result;
    const body = (pem: string) => pem.split('-----')[2]!.replace(/\s/g, '');
    assert.ok(got.ssl.custom_certificate.replace(/\s/g, '').includes(body(ecdsa.certPem)), 'GET: the ECDSA chain');
    const { custom_certificate: _pem, ...withoutPem } = got.ssl;
    assert.deepEqual(listed, { ...got, ssl: withoutPem });
  });

  test('refusals: each with its code, nothing stored', async () => {
    const before = await snapshot(s);
    const long = `${"e".repeat(60)}.${"a".repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com`;
    const cases: Array<[unknown, number, number]> = [
      [{ hostname: HOST }, 409, 1406],
      [{ hostname: HOST.toUpperCase() }, 409, 1406],
      [{ hostname: '192.0.2.10' }, 400, 1407],
      [{ hostname: 'bad_host!.example.com' }, 400, 1407],
      [{ hostname: long }, 400, 1407],
      [{ hostname: 'localhost' }, 400, 1407],
      [{}, 400, 1407],
      [{ hostname: 'bücher.example.com' }, 400, 1408],
      [{ hostname: 'm.example.com', custom_metadata: { blob: 'x'.repeat(5000) } }, 400, 1401],
      [{ hostname: 'o.example.com', custom_origin_server: 'not a host' }, 400, 1415],
      [{ hostname: 's.example.com', ssl: { settings: { http2: 'maybe' } } }, 400, 1422],
      [{ hostname: 's.example.com', ssl: { settings: { tls_1_3: 'yes' } } }, 400, 1424],
      [{ hostname: 's.example.com', ssl: { settings: { min_tls_version: '1.4' } } }, 400, 1425],
      [{ hostname: 's.example.com', ssl: { settings: { ciphers: ['RC4-MD5'] } } }, 400, 1442],
      [{ hostname: 's.example.com', ssl: { settings: { min_tls_version: '1.3', ciphers: ['AES128-SHA'] } } }, 400, 1443],
      [{ hostname: 's.example.com', ssl: { settings: { colour: 'blue' } } }, 400, 1434],
      [{ hostname: 's.example.com', ssl: { method: 'carrier-pigeon' } }, 400, 1432],
      [{ hostname: 's.example.com', ssl: { type: 'ev' } }, 400, 1433],
      [{ hostname: 's.example.com', ssl: { bundle_method: 'best' } }, 400, 1449],
      [{ hostname: 's.example.com', ssl: { certificate_authority: 'acme-corp' } }, 400, 1434],
      [{ hostname: 's.example.com', ssl: { custom_cert_bundle: [] } }, 400, 1816],
      [{ hostname: 's.example.com', ssl: { custom_cert_bundle: [1, 2, 3].map(() => ({ custom_certificate: rsa.chainPem, custom_key: rsa.keyPem })) } }, 400, 1816],
      [{ hostname: HOST.replace('shop', 'x'), ssl: { custom_certificate: rsa.chainPem } }, 400, 1428],
      [{ hostname: 's.example.com', ssl: { custom_cert_bundle: [{ custom_certificate: rsa.chainPem, custom_key: rsa.keyPem }], custom_certificate: rsa.chainPem, custom_key: rsa.keyPem } }, 400, 1434],
      [{ hostname: 's.example.com', custom_metadata: [1, 2] }, 400, 1800],
    ];
    for (const [body, status, code] of cases) {
      const res = await s.api('POST', path(), body);
      assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 120)} → ${JSON.stringify(res.body)}`);
      assert.deepEqual(codes(res.body), [code], JSON.stringify(res.body));
      assert.ok(res.body.errors[0].message.length > 10);
      assert.equal(res.headers.get('x-should-retry'), 'false');
    }
    assert.equal(await snapshot(s), before);
  });

  test('two pairs of one key type: 400/1815, nothing stored', async () => {
    const other = await pki.leaf({ hosts: ['dup.customer-one.com'], keyType: 'rsa' });
    const again = await pki.leaf({ hosts: ['dup.customer-one.com'], keyType: 'rsa' });
    const before = await snapshot(s);
    const res = await s.api('POST', path(), {
      hostname: 'dup.customer-one.com',
      ssl: { custom_cert_bundle: [{ custom_certificate: other.chainPem, custom_key: other.keyPem }, { custom_certificate: again.chainPem, custom_key: again.keyPem }] },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(codes(res.body), [1815]);
    assert.equal(await snapshot(s), before);
  });

  test('PATCH: 202, settings merge one by one, metadata-only leaves the pack alone', async () => {
    const [h] = (await s.api('GET', path(`?hostname.exact=${HOST}`))).body.result;
    const res = await s.api('PATCH', path(`/${h.id}`), { ssl: { settings: { tls_1_3: 'off' } } });
    assert.equal(res.status, 202);
    assert.deepEqual(res.body.result.ssl.settings, { http2: 'on', min_tls_version: '1.2', tls_1_3: 'off' });
    const edited = await s.client.customHostnames.edit(h.id, { zone_id: zoneId, custom_metadata: { tier: 'gold' } });
    assert.deepEqual(edited.custom_metadata, { tier: 'gold' });
    assert.deepEqual((edited.ssl as any).certificates, res.body.result.ssl.certificates);
    assert.equal(edited.custom_origin_server, 'origin.saas-provider.com');
    assert.deepEqual((edited.ssl as any).settings, { http2: 'on', min_tls_version: '1.2', tls_1_3: 'off' });
    // Merged settings are re-checked: min 1.3 with tls_1_3 off is refused.
    const bad = await s.api('PATCH', path(`/${h.id}`), { ssl: { settings: { min_tls_version: '1.3' } } });
    assert.equal(bad.status, 400);
    assert.deepEqual(codes(bad.body), [1434]);
    const rename = await s.api('PATCH', path(`/${h.id}`), { hostname: 'other.customer-one.com' });
    assert.equal(rename.status, 400);
    const clear = await s.api('PATCH', path(`/${h.id}`), { custom_origin_server: null });
    assert.equal(clear.body.result.custom_origin_server, undefined);
  });

  test('PATCH adds the missing key type, and replaces a present one in its slot (id kept)', async () => {
    const host = 'grow.customer-one.com';
    const first = await pki.leaf({ hosts: [host], keyType: 'rsa' });
    const created = (await s.api('POST', path(), { hostname: host, ssl: { custom_certificate: first.chainPem, custom_key: first.keyPem } })).body.result;
    assert.equal(created.ssl.certificates.length, 1);
    assert.equal(created.ssl.signature, 'ECDSAWithSHA256');
    const rsaId = created.ssl.certificates[0].id;
    const ec = await pki.leaf({ hosts: [host], keyType: 'ecdsa', curve: 'P-384' });
    const grown = await s.api('PATCH', path(`/${created.id}`), { ssl: { custom_cert_bundle: [{ custom_certificate: ec.chainPem, custom_key: ec.keyPem }] } });
    assert.equal(grown.status, 202);
    assert.deepEqual(grown.body.result.ssl.certificates.map((c: any) => c.key_type).sort(), ['ecdsa', 'rsa']);
    assert.equal(grown.body.result.ssl.id, created.ssl.id);
    const second = await pki.leaf({ hosts: [host], keyType: 'rsa' });
    const replaced = await s.api('PATCH', path(`/${created.id}`), { ssl: { custom_certificate: second.chainPem, custom_key: second.keyPem } });
    const rsaNow = replaced.body.result.ssl.certificates.find((c: any) => c.key_type === 'rsa');
    assert.equal(rsaNow.id, rsaId);
    assert.equal(rsaNow.serial_number, BigInt('0x' + second.serialHex).toString(10));
    assert.equal(replaced.body.result.ssl.certificates.length, 2);
  });

  test('list: filters, paging through the SDK, id exclusivity', async () => {
    for (let i = 0; i < 12; i++) await s.api('POST', path(), { hostname: `tenant-${String(i).padStart(2, '0')}.paging.com`, custom_origin_server: i % 2 ? 'odd.origin.com' : undefined, ssl: { wildcard: i === 3 } });
    const all = [];
    for await (const h of s.client.customHostnames.list({ zone_id: zoneId, per_page: 5 })) all.push(h.hostname);
    const total = (await s.api('GET', path('?per_page=50'))).body.result_info.total_count;
    assert.equal(all.length, total);
    assert.equal(new Set(all).size, total);

    const names = async (q: string) => (await s.api('GET', path(`?per_page=50&${q}`))).body.result.map((h: any) => h.hostname);
    assert.deepEqual(await names('hostname.exact=tenant-03.paging.com'), ['tenant-03.paging.com']);
    assert.equal((await names('hostname.contain=paging')).length, 12);
    assert.equal((await names('hostname.startsWith=tenant-1')).length, 2);
    assert.deepEqual(await names('wildcard=true'), ['tenant-03.paging.com']);
    assert.equal((await names('custom_origin_server=odd.origin.com')).length, 6);
    const withCert = await names('ssl=1');
    assert.ok(withCert.includes(HOST) && !withCert.includes('tenant-00.paging.com'));
    assert.deepEqual(await names('ssl_status=active'), withCert);
    assert.ok((await names('ssl_status=pending_validation')).includes('tenant-00.paging.com'));
    const asc = await names('order=ssl&direction=asc');
    assert.equal(asc[0], [...withCert].sort()[0]);

    const page = await s.api('GET', path('?per_page=5&page=3&hostname.contain=paging'));
    assert.deepEqual(page.body.result_info, { page: 3, per_page: 5, count: 2, total_count: 12, total_pages: 3 });
    const past = await s.api('GET', path('?per_page=5&page=9'));
    assert.equal(past.status, 200);
    assert.deepEqual(past.body.result, []);

    const [one] = (await s.api('GET', path('?hostname=tenant-05.paging.com'))).body.result;
    assert.deepEqual(await names(`id=${one.id}`), ['tenant-05.paging.com']);
    const mixed = await s.api('GET', path(`?id=${one.id}&hostname=tenant-05.paging.com`));
    assert.equal(mixed.status, 400);
    assert.deepEqual(codes(mixed.body), [1438]);
    const twoHostFilters = await s.api('GET', path('?hostname.exact=a.com&hostname.contain=b'));
    assert.deepEqual(codes(twoHostFilters.body), [1437]);
    const badContain = await s.api('GET', path('?hostname.contain=%25%27%3B'));
    assert.deepEqual(codes(badContain.body), [1437]);
  });

  test('delete answers a top-level id and the envelope; the hostname and its pack are gone', async () => {
    const [h] = (await s.api('GET', path('?hostname=tenant-00.paging.com'))).body.result;
    const res = await s.client.customHostnames.delete(h.id, { zone_id: zoneId });
    assert.equal(res.id, h.id);
    const raw = await s.api('DELETE', path(`/${h.id}`));
    assert.equal(raw.status, 404);
    const [withPack] = (await s.api('GET', path('?hostname=grow.customer-one.com'))).body.result;
    const del = await s.api('DELETE', path(`/${withPack.id}`));
    assert.deepEqual(del.body, { id: withPack.id, success: true, errors: [], messages: [], result: { id: withPack.id } });
    const left = await s.running.ctx.store.db.selectFrom('pack_certificates').selectAll().where('custom_hostname_id', '=', withPack.id).execute();
    assert.equal(left.length, 0);
  });

  test('fallback origin and quota', async () => {
    const none = await s.api('GET', path('/fallback_origin'));
    assert.equal(none.status, 404);
    assert.deepEqual(codes(none.body), [1819]);
    const set = await s.client.customHostnames.fallbackOrigin.update({ zone_id: zoneId, origin: 'Fallback.SaaS-Provider.com' });
    assert.equal(set.origin, 'fallback.saas-provider.com');
    assert.equal(set.status, 'active');
    assert.equal((await s.client.customHostnames.fallbackOrigin.get({ zone_id: zoneId })).origin, 'fallback.saas-provider.com');
    const bad = await s.api('PUT', path('/fallback_origin'), { origin: 'http://nope' });
    assert.equal(bad.status, 400);
    assert.deepEqual(codes(bad.body), [1825]);
    const removed = await s.client.customHostnames.fallbackOrigin.delete({ zone_id: zoneId });
    assert.equal(removed.origin, 'fallback.saas-provider.com');
    assert.equal((await s.api('GET', path('/fallback_origin'))).status, 404);
    const quota = await s.client.customHostnames.quota.get({ zone_id: zoneId });
    const count = (await s.api('GET', path())).body.result_info.total_count;
    assert.equal(quota.used, count);
    assert.equal(quota.exceeded, false);
  });

  test('a token scoped to another zone gets 403/10000; a read-only token cannot write', async () => {
    const other = await s.client.zones.create({ name: 'another-saas.com', account: { id: s.accountId } });
    const { TokensService } = await import('../../src/resources/tokens/service.js');
    const tokens = new TokensService(s.running.ctx);
    const foreign = await tokens.create({ name: 'other zone', permissions: ['ssl:edit', 'zone:read'], accountId: s.accountId, zoneIds: [other.id] });
    const res = await s.api('GET', path(), undefined, { authorization: `Bearer ${foreign.value}` });
    assert.equal(res.status, 403);
    assert.deepEqual(codes(res.body), [10000]);
    const readOnly = await tokens.create({ name: 'reader', permissions: ['ssl:read'], accountId: s.accountId });
    const read = await s.api('GET', path(), undefined, { authorization: `Bearer ${readOnly.value}` });
    assert.equal(read.status, 200);
    const write = await s.api('POST', path(), { hostname: 'denied.example.com' }, { authorization: `Bearer ${readOnly.value}` });
    assert.equal(write.status, 403);
    assert.deepEqual(codes(write.body), [10000]);
  });
});

describe('list totals from kept counts', () => {
  test('total_count stays exact through creates, certificates added, deletes and a zone delete (both databases)', async () => {
    const zone = (await s.client.zones.create({ name: 'counted-saas.com', account: { id: s.accountId } })).id;
    const p = (q = '') => `/zones/${zone}/custom_hostnames${q}`;
    /** total_count for a filter, and the number of hostnames found by paging through every page. */
    const totals = async (filter: string) => {
      const first = await s.api('GET', p(`?per_page=5${filter}`));
      assert.equal(first.status, 200, JSON.stringify(first.body));
      let seen = 0;
      for (let page = 1; page <= first.body.result_info.total_pages; page++) seen += (await s.api('GET', p(`?per_page=5&page=${page}${filter}`))).body.result.length;
      return { reported: first.body.result_info.total_count, seen };
    };
    const check = async (expected: { all: number; active: number; pending: number }) => {
      for (const [filter, want] of [['', expected.all], ['&ssl_status=active', expected.active], ['&ssl_status=pending_validation', expected.pending], ['&ssl=1', expected.active]] as const) {
        const t = await totals(filter);
        assert.deepEqual(t, { reported: want, seen: want }, `filter "${filter}"`);
      }
      const quota = await s.api('GET', p('/quota'));
      assert.equal(quota.body.result.used, expected.all);
    };
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const host = `c${i}.counted.test`;
      const leaf = i % 2 === 0 ? await pki.leaf({ hosts: [host], keyType: 'ecdsa' }) : undefined;
      const res = await s.api('POST', p(), { hostname: host, ...(leaf ? { ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } } : {}) });
      assert.equal(res.status, 201);
      ids.push(res.body.result.id);
    }
    // A refused create changes nothing.
    assert.equal((await s.api('POST', p(), { hostname: 'c0.counted.test' })).status, 409);
    await check({ all: 7, active: 4, pending: 3 });
    // A certificate added to a pending hostname makes it active.
    const leaf = await pki.leaf({ hosts: ['c1.counted.test'], keyType: 'rsa' });
    assert.equal((await s.api('PATCH', p(`/${ids[1]}`), { ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } })).status, 202);
    await check({ all: 7, active: 5, pending: 2 });
    await s.api('DELETE', p(`/${ids[0]}`));
    await s.api('DELETE', p(`/${ids[3]}`));
    await check({ all: 5, active: 4, pending: 1 });
    // The counts the triggers keep equal a count of the rows, for every zone.
    const db = s.running.ctx.store.db;
    const kept = await db.selectFrom('hostname_counts').select(['zone_id', 'ssl_status', 'n']).where('n', '>', 0).orderBy('zone_id').orderBy('ssl_status').execute();
    const counted = await db.selectFrom('custom_hostnames').select(['zone_id', 'ssl_status', ({ fn }) => fn.countAll<number>().as('n')]).groupBy(['zone_id', 'ssl_status']).orderBy('zone_id').orderBy('ssl_status').execute();
    assert.deepEqual(kept.map((r) => [r.zone_id, r.ssl_status, Number(r.n)]), counted.map((r) => [r.zone_id, r.ssl_status, Number(r.n)]));
    await s.client.zones.delete({ zone_id: zone });
    assert.equal((await db.selectFrom('hostname_counts').selectAll().where('zone_id', '=', zone).execute()).length, 0, 'a deleted zone leaves no counts');
  });
});

describe('deep pages', () => {
  test('pages past the anchors are the same rows offsets give, in every order, and stay exact after writes', async () => {
    const zone = (await s.client.zones.create({ name: 'deep-saas.com', account: { id: s.accountId } })).id;
    const p = (q = '') => `/zones/${zone}/custom_hostnames${q}`;
    const leaf = await pki.leaf({ hosts: ['*.deep.test'], keyType: 'ecdsa' });
    const N = 1260; // past the offset anchors start from (1000), and a dozen anchors (one every 100 rows)
    const names = Array.from({ length: N }, (_, i) => `h${String((i * 7919) % 10000).padStart(4, '0')}.deep.test`);
    for (const [i, hostname] of names.entries()) {
      // One in three with a certificate: the default order (ssl_status, hostname) has two runs.
      const res = await s.api('POST', p(), { hostname, ...(i % 3 === 0 ? { ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } } : {}) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const all = async (order: string) => {
      const out: string[] = [];
      for (let page = 1; ; page++) {
        const res = await s.api('GET', p(`?per_page=50&page=${page}${order}`));
        assert.equal(res.status, 200);
        out.push(...res.body.result.map((h: any) => `${h.ssl.status}|${h.hostname}`));
        if (page >= res.body.result_info.total_pages) return out;
      }
    };
    const status = new Map<string, string>();
    const expected = (order: string) => {
      const rows = [...status].map(([hostname, st]) => ({ hostname, st }));
      const byHost = (a: { hostname: string }, b: { hostname: string }) => (a.hostname < b.hostname ? -1 : 1);
      if (order === '') rows.sort((a, b) => (a.st === b.st ? byHost(a, b) : a.st < b.st ? -1 : 1));
      if (order === '&order=hostname') rows.sort(byHost);
      if (order === '&order=hostname&direction=desc') rows.sort((a, b) => byHost(b, a));
      if (order === '&order=ssl_status&direction=desc') rows.sort((a, b) => (a.st === b.st ? byHost(a, b) : a.st > b.st ? -1 : 1));
      return rows.map((r) => `${r.st}|${r.hostname}`);
    };
    names.forEach((n, i) => status.set(n, i % 3 === 0 ? 'active' : 'pending_validation'));
    const orders = ['', '&order=hostname', '&order=hostname&direction=desc', '&order=ssl_status&direction=desc'];
    for (const order of orders) assert.deepEqual(await all(order), expected(order), `order "${order}"`);
    // created_at: every row once, in created_at order (ties by hostname).
    const byCreated = await all('&order=created_at');
    assert.equal(new Set(byCreated).size, N);
    // Writes move rows across anchors: the next deep pages must see them.
    assert.equal((await s.api('POST', p(), { hostname: 'a0000.deep.test' })).status, 201);
    status.set('a0000.deep.test', 'pending_validation');
    const victim = (await s.api('GET', p('?hostname=h0000.deep.test'))).body.result[0];
    await s.api('DELETE', p(`/${victim.id}`));
    status.delete('h0000.deep.test');
    for (const order of orders) assert.deepEqual(await all(order), expected(order), `order "${order}" after writes`);

    // hostname.contain past the anchors: the same answers as a filter over every name.
    for (const needle of ['h00', '000', '12', 'a0000', '7.deep', 'nothing-like-it']) {
      const found: string[] = [];
      for (let page = 1; ; page++) {
        const res = await s.api('GET', p(`?per_page=50&page=${page}&hostname.contain=${needle}`));
        assert.equal(res.status, 200);
        found.push(...res.body.result.map((h: any) => h.hostname));
        if (page >= Math.max(1, res.body.result_info.total_pages)) {
          assert.equal(res.body.result_info.total_count, found.length);
          break;
        }
      }
      assert.deepEqual(found.sort(), [...status.keys()].filter((h) => h.includes(needle)).sort(), `contain ${needle}`);
    }
  });
});
