import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { snapshot } from '../helpers/state.js';

/**
 * Arbitrary JSON at every writing endpoint not covered by the certificate property test: never
 * a 5xx, always the envelope, and a refusal changes nothing. Keys that name Object.prototype's
 * members and numbers at the extremes are drawn on purpose.
 *
 * The seed is printed; EDGECERT_FUZZ_SEED=<seed> replays a run exactly (a 5xx is a bug to fix).
 */
const SEED = process.env.EDGECERT_FUZZ_SEED ? Number(process.env.EDGECERT_FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
console.log(`fuzz seed ${SEED} (replay: EDGECERT_FUZZ_SEED=${SEED})`);

const PROTOTYPE_KEYS = ['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty', 'toJSON', 'then', 'length'];
const EXTREME_NUMBERS = [1e308, -1e308, 5e-324, -0, 0.5, 2 ** 53 + 2, -(2 ** 63), 1e21, 99999999999999999999];
const key = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...PROTOTYPE_KEYS));
const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constantFrom(...EXTREME_NUMBERS), fc.boolean(), fc.constant(null));
/** Objects built with JSON.parse, as the server would see them (`__proto__` an own key). */
const object = (of: fc.Arbitrary<unknown>) =>
  fc.array(fc.tuple(key, of), { maxLength: 3 }).map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`));
let s: TestServer;
let pki: TestPki;
let zoneId: string;
let hostnameId: string;

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'fuzz-saas.com', account: { id: s.accountId } })).id;
  hostnameId = (await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'fuzz.customer.com' })).body.result.id;
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

async function mtlsAndAssociations() {
  const db = s.running.ctx.store.db;
  return JSON.stringify([
    await db.selectFrom('mtls_certificates').selectAll().orderBy('id').execute(),
    await db.selectFrom('hostname_associations').selectAll().orderBy('hostname').execute(),
  ]);
}

test('PATCH custom hostname, POST mTLS certificate, PUT associations, PUT fallback origin, POST zone: no 5xx, no change on refusal', async () => {
  const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), object(scalar), object(object(scalar)));
  const sslish = fc.record(
    {
      method: value, type: value, bundle_method: value, certificate_authority: value, wildcard: value,
      settings: fc.oneof(value, fc.record({ http2: value, tls_1_3: value, min_tls_version: value, ciphers: value, early_hints: value }, { requiredKeys: [] })),
      custom_cert_bundle: fc.oneof(value, fc.array(fc.record({ custom_certificate: value, custom_key: value }), { maxLength: 3 })),
    },
    { requiredKeys: [] },
  );
  const bodies: Array<[string, string, fc.Arbitrary<unknown>]> = [
    ['PATCH', `/zones/${zoneId}/custom_hostnames/${hostnameId}`, fc.record({ ssl: fc.oneof(value, sslish), custom_metadata: value, custom_origin_server: value, hostname: value }, { requiredKeys: [] })],
    ['POST', `/accounts/${s.accountId}/mtls_certificates`, fc.record({ ca: value, certificates: fc.oneof(value, fc.constant(pki.root.pem.slice(0, 200))), name: value, private_key: value }, { requiredKeys: [] })],
    ['PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, fc.record({ hostnames: fc.oneof(value, fc.array(value, { maxLength: 4 })), mtls_certificate_id: value }, { requiredKeys: [] })],
    ['PUT', `/zones/${zoneId}/custom_hostnames/fallback_origin`, fc.record({ origin: value }, { requiredKeys: [] })],
    ['POST', '/zones', fc.record({ name: value, account: fc.oneof(value, fc.record({ id: value })), type: value }, { requiredKeys: [] })],
  ];
  for (const [method, path, body] of bodies) {
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = (await snapshot(s)) + (await mtlsAndAssociations());
        const res = await s.api(method, path, b);
        assert.ok(res.status < 500, `${method} ${path} ${JSON.stringify(b)} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(typeof res.body?.success, 'boolean');
        if (res.status >= 400) {
          assert.ok(res.body.errors[0]?.message, 'a refusal names its problem');
          assert.equal((await snapshot(s)) + (await mtlsAndAssociations()), before, `${method} ${path} ${JSON.stringify(b)} refused but changed state`);
        }
      }),
      { numRuns: 60, seed: SEED },
    );
  }
});

test('list query strings: page and per_page at the extremes, prototype-like parameter names: never a 5xx', async () => {
  const number = fc.oneof(fc.constantFrom('1e308', '99999999999999999999', 'Infinity', '-Infinity', 'NaN', '-1', '0', '1.5', '0x10', '', ' ', '1e-7', '-0'), fc.integer().map(String), fc.double().map(String));
  const query = fc.record({ page: number, per_page: number, extra: fc.constantFrom(...PROTOTYPE_KEYS) }, { requiredKeys: [] });
  for (const list of [`/zones/${zoneId}/custom_hostnames`, '/zones', '/accounts', `/accounts/${s.accountId}/mtls_certificates`]) {
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const params = new URLSearchParams();
        if (q.page !== undefined) params.set('page', q.page);
        if (q.per_page !== undefined) params.set('per_page', q.per_page);
        if (q.extra !== undefined) params.set(q.extra, '1');
        const res = await s.api('GET', `${list}?${params}`);
        assert.ok(res.status === 200 || res.status === 400, `GET ${list}?${params} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(typeof res.body?.success, 'boolean');
      }),
      { numRuns: 40, seed: SEED },
    );
  }
});
