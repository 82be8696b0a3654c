import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { snapshot } from '../helpers/state.js';

/**
 * Arbitrary JSON at every writing endpoint not covered by the certificate property test: never
 * a 5xx, always the envelope, and a refusal changes nothing.
 */
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
  const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string(), { maxKeys: 3 }));
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
      { numRuns: 60 },
    );
  }
});
