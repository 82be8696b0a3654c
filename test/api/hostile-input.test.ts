import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type Leaf, type TestPki } from '../helpers/pki.js';
import { codes, snapshot } from '../helpers/state.js';

/**
 * Bodies and query strings an attacker would send (issue: safe to face the internet): each is a
 * 4xx with the envelope and a message naming the problem, answered promptly, changing nothing.
 */
let s: TestServer;
let pki: TestPki;
let zoneId: string;
let hostnameId: string;
let good: Leaf;

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'hostile-saas.com', account: { id: s.accountId } })).id;
  good = await pki.leaf({ hosts: ['hostile.customer.com'], keyType: 'ecdsa' });
  const created = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, {
    hostname: 'hostile.customer.com',
    ssl: { custom_certificate: good.chainPem, custom_key: good.keyPem },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  hostnameId = created.body.result.id;
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

async function refused(method: string, path: string, body: unknown, status: number, code: number, message: RegExp) {
  const before = await snapshot(s);
  const res = await s.api(method, path, body);
  assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.equal(res.body.success, false);
  assert.deepEqual(codes(res.body).slice(0, 1), [code], JSON.stringify(res.body).slice(0, 300));
  assert.match(res.body.errors[0].message, message);
  assert.equal(await snapshot(s), before, 'nothing changed');
}

test('55k unterminated PEM BEGIN markers in a certificate, a key or an mTLS upload: refused for the block count', async () => {
  const markers = '-----BEGIN X-----\n'.repeat(55_000); // ~1 MB, under the body limit
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'pem1.customer.com', ssl: { custom_certificate: markers, custom_key: good.keyPem } }, 400, 1426, /more than 32 PEM blocks/);
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'pem2.customer.com', ssl: { custom_certificate: good.chainPem, custom_key: markers } }, 400, 1428, /more than 32 PEM blocks/);
  await refused('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: markers }, 400, 1821, /more than 32 PEM blocks/);
});

test('an RSA leaf above 4096 bits is refused with 1827, on create and on replace', async () => {
  const big = await pki.leaf({ hosts: ['big.customer.com', 'hostile.customer.com'], keyType: 'rsa', rsaBits: 4160 });
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'big.customer.com', ssl: { custom_certificate: big.chainPem, custom_key: big.keyPem } }, 400, 1827, /4160 bits.*above 4096/);
  await refused('PATCH', `/zones/${zoneId}/custom_hostnames/${hostnameId}`, { ssl: { custom_cert_bundle: [{ custom_certificate: big.chainPem, custom_key: big.keyPem }] } }, 400, 1827, /4160 bits/);
  const ok = await pki.leaf({ hosts: ['four.customer.com'], keyType: 'rsa', rsaBits: 4096 });
  const created = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'four.customer.com', ssl: { custom_certificate: ok.chainPem, custom_key: ok.keyPem } });
  assert.equal(created.status, 201, 'RSA 4096 is still accepted');
});

test('hostnames over 253 characters or with a label over 63 are refused with 1407 (custom hostnames, associations)', async () => {
  const label = 'a'.repeat(63);
  const long = `${label}.${label}.${label}.${'b'.repeat(58)}.com`; // 254 characters
  assert.equal(long.length, 254);
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: long }, 400, 1407, /longer than 253/);
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: `${'c'.repeat(64)}.customer.com` }, 400, 1407, /longer than 63/);
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'x.customer.com', custom_origin_server: long }, 400, 1415, /longer than 253/);
  const assoc = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames: [`${long.slice(0, 240)}.hostile-saas.com`] });
  assert.equal(assoc.status, 400, JSON.stringify(assoc.body));
  assert.match(assoc.body.errors[0].message, /longer than 253/);
  const exact = `${label}.${label}.${label}.${'b'.repeat(57)}.com`; // 253: still fine
  assert.equal((await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: exact })).status, 201);
});

test('PATCH with a hostname object that has its own toString: 400, not 500', async () => {
  for (const hostname of [{ toString: '' }, { toString: 1 }, { valueOf: null }, ['hostile.customer.com'], 7]) {
    await refused('PATCH', `/zones/${zoneId}/custom_hostnames/${hostnameId}`, { hostname }, 400, 1407, /hostname/);
  }
  // The stored name sent back, as clients do, is still fine.
  assert.equal((await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${hostnameId}`, { hostname: 'hostile.customer.com' })).status, 202);
});

test('custom_metadata is a flat map of string values: nesting (5,000 levels), numbers, arrays refused with 1401', async () => {
  const deep = `{"custom_metadata":${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}}`; // sent as text
  const path = `/zones/${zoneId}/custom_hostnames/${hostnameId}`;
  await refused('PATCH', path, deep, 400, 1401, /custom_metadata\.a must be a string/);
  await refused('PATCH', path, { custom_metadata: { n: 1 } }, 400, 1401, /custom_metadata\.n must be a string/);
  await refused('PATCH', path, { custom_metadata: { l: ['a'] } }, 400, 1401, /must be a string/);
  await refused('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'meta.customer.com', custom_metadata: { k: { v: 'x' } } }, 400, 1401, /must be a string/);
  const ok = await s.api('PATCH', path, { custom_metadata: { tier: 'gold', '__proto__': 'fine', constructor: 'also' } });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.result.custom_metadata, { tier: 'gold', __proto__: 'fine', constructor: 'also' });
});

test('a certificate pair with an extra property nested 50,000 levels deep: only the pair is checked (and threads get only its two strings)', async () => {
  // The schema lets unknown properties through; the certificate rules run on validation threads,
  // and cloning such a value for a thread overflowed its stack: a 500 before the fix.
  const nested = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
  const pair = (leaf: Leaf) => `{"custom_certificate":${JSON.stringify(leaf.chainPem)},"custom_key":${JSON.stringify(leaf.keyPem)},"extra":${nested}}`;
  const leaf = await pki.leaf({ hosts: ['nested.customer.com'], keyType: 'ecdsa' });
  const created = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, `{"hostname":"nested.customer.com","ssl":{"custom_cert_bundle":[${pair(leaf)}]}}`);
  assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 300));
  const replaced = await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${created.body.result.id}`, `{"ssl":{"custom_cert_bundle":[${pair(leaf)}]}}`);
  assert.equal(replaced.status, 202, JSON.stringify(replaced.body).slice(0, 300));
  const { ssl } = replaced.body.result;
  const put = await s.api('PUT', `/zones/${zoneId}/custom_hostnames/${created.body.result.id}/certificate_pack/${ssl.id}/certificates/${ssl.certificates[0].id}`, pair(leaf));
  assert.equal(put.status, 200, JSON.stringify(put.body).slice(0, 300));
  const bad = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, `{"hostname":"other.customer.com","ssl":{"custom_cert_bundle":[${pair(leaf)}]}}`);
  assert.deepEqual([bad.status, codes(bad.body)[0]], [400, 1446], 'refused for the hostname, not a 500');
});

test('page numbers at the extremes: 1e308, 99999999999999999999, Infinity, NaN, -1 are 400s; a page past the end is []', async () => {
  for (const list of [`/zones/${zoneId}/custom_hostnames`, '/zones', '/accounts']) {
    for (const page of ['1e308', '99999999999999999999', 'Infinity', 'NaN', '-1', '0']) {
      const res = await s.api('GET', `${list}?page=${page}`);
      assert.equal(res.status, 400, `${list}?page=${page} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      assert.match(res.body.errors[0].message, /page/);
    }
    for (const perPage of ['1e308', '99999999999999999999', '-1e308']) {
      const res = await s.api('GET', `${list}?per_page=${perPage}`);
      assert.equal(res.status, 200, `${list}?per_page=${perPage} is clamped`);
    }
    const past = await s.api('GET', `${list}?page=1000000`);
    assert.equal(past.status, 200);
    assert.deepEqual(past.body.result, []);
  }
});
