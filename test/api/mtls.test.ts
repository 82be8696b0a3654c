import 'reflect-metadata';
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { startTestServer, startSecondApiNode, removeDir, type TestServer } from '../helpers/server.js';
import { makeLeaf, makeRoot, makeTestPki, type TestPki } from '../helpers/pki.js';
import { codes } from '../helpers/state.js';
import { TokensService } from '../../src/resources/tokens/service.js';
import { holdRowLock } from '../helpers/process.js';

let s: TestServer;
let pki: TestPki;
let zoneId: string;
const ZONE = 'mtls-saas.com';

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: ZONE, account: { id: s.accountId } })).id;
  // A custom hostname of the zone: associations may name it although it is outside the zone's name.
  await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'portal.customer.net' });
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

async function mtlsState() {
  const db = s.running.ctx.store.db;
  return JSON.stringify({
    certs: await db.selectFrom('mtls_certificates').selectAll().orderBy('id').execute(),
    assoc: await db.selectFrom('hostname_associations').selectAll().orderBy('zone_id').orderBy('ca_id').orderBy('hostname').execute(),
  });
}

const upload = (body: unknown) => s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, body);
const associations = (body: unknown) => s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, body);

async function ed25519Ca(): Promise<string> {
  const alg = { name: 'Ed25519' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a0b',
    name: 'CN=Ed25519 CA',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000 * 30),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return cert.toString('pem');
}

async function csrPem(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=client', keys, signingAlgorithm: alg });
  return csr.toString('pem');
}

describe('mTLS certificates', () => {
  let caId: string;

  test('upload a self-signed CA through the SDK; list, get, never a private key', async () => {
    const root = await makeRoot('Client Root');
    const created = await s.client.mtlsCertificates.create({ account_id: s.accountId, ca: true, certificates: root.pem, name: 'client-root' });
    caId = created.id!;
    assert.match(caId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const x = new X509Certificate(root.pem);
    assert.equal(created.ca, true);
    assert.equal(created.name, 'client-root');
    assert.equal(created.signature, 'SHA256WithRSA');
    assert.equal(created.serial_number, BigInt('0x' + x.serialNumber).toString(10));
    assert.equal(created.issuer, 'O=edgecert Test PKI,CN=Client Root');
    assert.equal(created.certificates, root.pem);
    assert.ok(created.uploaded_on && created.updated_at && created.expires_on);
    const listed = [];
    for await (const c of s.client.mtlsCertificates.list({ account_id: s.accountId })) listed.push(c.id);
    assert.ok(listed.includes(caId));
    const got = await s.client.mtlsCertificates.get(caId, { account_id: s.accountId });
    assert.equal(got.id, caId);
    const assoc = [];
    for await (const a of s.client.mtlsCertificates.associations.get(caId, { account_id: s.accountId })) assoc.push(a);
    assert.deepEqual(assoc, []);
  });

  test('a CA with its chain, an ECDSA intermediate, and a client certificate with its key', async () => {
    const withChain = await upload({ ca: true, certificates: pki.intermediate.pem + pki.root.pem });
    assert.equal(withChain.status, 200, JSON.stringify(withChain.body));
    assert.equal(withChain.body.result.signature, 'SHA256WithRSA'); // the intermediate is signed by the RSA root
    const client = await makeLeaf(pki.intermediate, { hosts: ['client.example.com'], keyType: 'ecdsa' });
    const leaf = await upload({ ca: false, certificates: client.chainPem, private_key: client.keyPem });
    assert.equal(leaf.status, 200, JSON.stringify(leaf.body));
    assert.equal(leaf.body.result.ca, false);
    assert.ok(!JSON.stringify(leaf.body).includes('PRIVATE KEY'));
    const row = await s.running.ctx.store.db.selectFrom('mtls_certificates').selectAll().where('id', '=', leaf.body.result.id).executeTakeFirstOrThrow();
    assert.ok(row.key_ciphertext?.startsWith('v1:'));
    assert.equal(s.running.ctx.vault.decrypt(row.key_ciphertext!, row.key_id!, row.id), client.keyObject.export({ type: 'pkcs8', format: 'pem' }));
    // Clean up so the quota test starts from a known count: two CAs so far.
    await s.client.mtlsCertificates.delete(withChain.body.result.id, { account_id: s.accountId });
  });

  test('refusals say what was wrong, store nothing', async () => {
    const before = await mtlsState();
    const leaf = await pki.leaf({ hosts: ['client.example.com'], keyType: 'rsa' });
    const cases: Array<[unknown, number, number, RegExp]> = [
      [{ ca: true, certificates: leaf.certPem }, 400, 1821, /not a CA/],
      [{ ca: true, certificates: leaf.keyPem }, 400, 1821, /private key/],
      [{ ca: true, certificates: await csrPem() }, 400, 1821, /signing request/],
      [{ ca: true, certificates: 'garbage' }, 400, 1821, /no PEM certificate/],
      [{ ca: true, certificates: '' }, 400, 1821, /empty/],
      [{ ca: true, certificates: await ed25519Ca() }, 400, 1821, /Ed25519/],
      [{ ca: true, certificates: pki.root.pem + pki.intermediate.pem }, 400, 1821, /did not issue/],
      [{ certificates: pki.root.pem }, 400, 1800, /ca is required/],
      [{ ca: false, certificates: leaf.certPem, private_key: (await pki.leaf({ hosts: ['x.example.com'], keyType: 'rsa' })).keyPem }, 400, 1429, /does not match/],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await upload(body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.deepEqual(codes(res.body), [code]);
      assert.match(res.body.errors[0].message, message);
    }
    const unknown = await s.api('GET', `/accounts/${s.accountId}/mtls_certificates/7b1e0a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b`);
    assert.equal(unknown.status, 404);
    assert.deepEqual(codes(unknown.body), [1820]);
    const malformed = await s.api('GET', `/accounts/${s.accountId}/mtls_certificates/abc`);
    assert.equal(malformed.status, 400);
    assert.equal(codes(malformed.body)[0], 7003);
    assert.equal(await mtlsState(), before);
  });

  test('at most five CAs per account: the sixth is 400/1489', async () => {
    const existing = (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates`)).body.result.filter((c: any) => c.ca).length;
    for (let i = existing; i < 5; i++) {
      const root = await makeRoot(`Quota Root ${i}`);
      assert.equal((await upload({ ca: true, certificates: root.pem })).status, 200);
    }
    const before = await mtlsState();
    const sixth = await upload({ ca: true, certificates: (await makeRoot('Sixth')).pem });
    assert.equal(sixth.status, 400);
    assert.deepEqual(sixth.body.errors, [{ code: 1489, message: 'Hit maximum CA cert allocation.' }]);
    assert.equal(await mtlsState(), before);
    // A non-CA certificate does not count against the CA quota.
    const client = await makeLeaf(pki.intermediate, { hosts: ['c2.example.com'], keyType: 'rsa' });
    assert.equal((await upload({ ca: false, certificates: client.certPem })).status, 200);
  });

  describe('hostname associations', () => {
    test('PUT replaces the set (SDK): normalised, de-duplicated, sorted; GET reads it; [] clears it', async () => {
      const set = await s.client.certificateAuthorities.hostnameAssociations.update({
        zone_id: zoneId,
        mtls_certificate_id: caId,
        hostnames: ['API.mtls-saas.com', 'api.mtls-saas.com.', 'mtls-saas.com', 'portal.customer.net', '*.dev.mtls-saas.com'],
      });
      assert.deepEqual(set.hostnames, ['*.dev.mtls-saas.com', 'api.mtls-saas.com', 'mtls-saas.com', 'portal.customer.net']);
      const got = await s.client.certificateAuthorities.hostnameAssociations.get({ zone_id: zoneId, mtls_certificate_id: caId });
      assert.deepEqual(got.hostnames, set.hostnames);
      const replaced = await associations({ mtls_certificate_id: caId, hostnames: ['api.mtls-saas.com'] });
      assert.deepEqual(replaced.body.result, { hostnames: ['api.mtls-saas.com'] });
      const assoc = (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates/${caId}/associations`)).body.result;
      assert.deepEqual(assoc, [{ service: 'ssl', status: 'active' }]);
    });

    test('a CA with associations cannot be deleted (409/1822); cleared, it can', async () => {
      const inUse = await s.api('DELETE', `/accounts/${s.accountId}/mtls_certificates/${caId}`);
      assert.equal(inUse.status, 409);
      assert.deepEqual(codes(inUse.body), [1822]);
      assert.ok((await s.client.mtlsCertificates.get(caId, { account_id: s.accountId })).id);
      const cleared = await associations({ mtls_certificate_id: caId, hostnames: [] });
      assert.deepEqual(cleared.body.result, { hostnames: [] });
      const deleted = await s.client.mtlsCertificates.delete(caId, { account_id: s.accountId });
      assert.equal(deleted.id, caId);
      assert.equal((await s.api('GET', `/accounts/${s.accountId}/mtls_certificates/${caId}`)).status, 404);
    });

    test('the managed CA: no id → the zone managed CA, a real ECDSA P-256 CA, kept apart from uploaded CAs', async () => {
      const res = await associations({ hostnames: ['secure.mtls-saas.com'] });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.result.hostnames, ['secure.mtls-saas.com']);
      const read = await s.client.certificateAuthorities.hostnameAssociations.get({ zone_id: zoneId });
      assert.deepEqual(read.hostnames, ['secure.mtls-saas.com']);
      const ca = await s.running.ctx.store.db.selectFrom('managed_cas').selectAll().where('zone_id', '=', zoneId).executeTakeFirstOrThrow();
      const cert = new X509Certificate(ca.certificate);
      assert.equal(cert.ca, true);
      assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.ok(cert.verify(cert.publicKey));
      const key = s.running.ctx.vault.decrypt(ca.key_ciphertext, ca.key_id, ca.id);
      assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(key)));
      // Not listed among the account's uploaded certificates, not counted in the quota.
      const listed = (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates`)).body.result;
      assert.ok(!listed.some((c: any) => c.certificates === ca.certificate));
      // The same hostname may be in several CAs' sets.
      const root = await makeRoot('Second Client Root');
      const all = (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates`)).body.result.filter((c: any) => c.ca);
      await s.client.mtlsCertificates.delete(all[0].id, { account_id: s.accountId });
      const second = (await upload({ ca: true, certificates: root.pem })).body.result;
      const both = await associations({ mtls_certificate_id: second.id, hostnames: ['secure.mtls-saas.com'] });
      assert.deepEqual(both.body.result.hostnames, ['secure.mtls-saas.com']);
      assert.deepEqual((await s.client.certificateAuthorities.hostnameAssociations.get({ zone_id: zoneId })).hostnames, ['secure.mtls-saas.com']);
      // A second PUT does not create a second managed CA.
      await associations({ hostnames: ['secure.mtls-saas.com', 'www.mtls-saas.com'] });
      const cas = await s.running.ctx.store.db.selectFrom('managed_cas').selectAll().execute();
      assert.equal(cas.length, 1);
    });

    test('refusals: each with its code, nothing changed', async () => {
      const client = (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates`)).body.result.find((c: any) => !c.ca);
      const before = await mtlsState();
      const cases: Array<[unknown, number, number, RegExp | null]> = [
        [{ hostnames: ['evil.example.org'] }, 400, 1823, /evil\.example\.org/],
        [{ hostnames: ['ok.mtls-saas.com', 'notmtls-saas.com'] }, 400, 1823, /notmtls-saas\.com/],
        [{ hostnames: ['bad host.mtls-saas.com'] }, 400, 1407, /bad host/],
        [{ hostnames: [`${'a'.repeat(250)}.mtls-saas.com`] }, 400, 1407, /253/],
        [{ hostnames: ['ünïcode.mtls-saas.com'] }, 400, 1408, null],
        [{ hostnames: [42] }, 400, 1800, null],
        [{ mtls_certificate_id: 'abc', hostnames: [] }, 400, 1800, /36-character/],
        [{ mtls_certificate_id: '7b1e0a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b', hostnames: [] }, 404, 1820, /7b1e0a52/],
        [{ mtls_certificate_id: client.id, hostnames: ['a.mtls-saas.com'] }, 400, 1824, null],
      ];
      for (const [body, status, code, message] of cases) {
        const res = await associations(body);
        assert.equal(res.status, status, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
        assert.deepEqual(codes(res.body), [code]);
        if (message) assert.match(res.body.errors[0].message, message);
      }
      const badGet = await s.api('GET', `/zones/${zoneId}/certificate_authorities/hostname_associations?mtls_certificate_id=nope`);
      assert.equal(badGet.status, 400);
      assert.equal(await mtlsState(), before);
    });

    test('scoped tokens: another zone’s token gets 403/10000, a read-only token cannot PUT', async () => {
      const other = await s.client.zones.create({ name: 'other-mtls.com', account: { id: s.accountId } });
      const tokens = new TokensService(s.running.ctx);
      const foreign = await tokens.create({ name: 'other', permissions: ['ssl:edit'], accountId: s.accountId, zoneIds: [other.id] });
      const denied = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames: [] }, { authorization: `Bearer ${foreign.value}` });
      assert.equal(denied.status, 403);
      assert.deepEqual(codes(denied.body), [10000]);
      const upload = await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: pki.root.pem }, { authorization: `Bearer ${foreign.value}` });
      assert.equal(upload.status, 403);
      const reader = await tokens.create({ name: 'reader', permissions: ['ssl:read'], accountId: s.accountId });
      const read = await s.api('GET', `/zones/${zoneId}/certificate_authorities/hostname_associations`, undefined, { authorization: `Bearer ${reader.value}` });
      assert.equal(read.status, 200);
      const write = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames: [] }, { authorization: `Bearer ${reader.value}` });
      assert.equal(write.status, 403);
    });

    test('a zone deletion removes its associations and managed CA', async () => {
      const z = await s.client.zones.create({ name: 'short-lived.com', account: { id: s.accountId } });
      await s.api('PUT', `/zones/${z.id}/certificate_authorities/hostname_associations`, { hostnames: ['short-lived.com'] });
      await s.client.zones.delete({ zone_id: z.id });
      const db = s.running.ctx.store.db;
      assert.equal((await db.selectFrom('hostname_associations').selectAll().where('zone_id', '=', z.id).execute()).length, 0);
      assert.equal((await db.selectFrom('managed_cas').selectAll().where('zone_id', '=', z.id).execute()).length, 0);
    });
  });

  test('deletes of one CA from two API processes, both past their read: one 200, the other 404/1820', async () => {
    // Both processes read the CA, then wait for the row lock a third connection holds; once it
    // is released one deletes, and the other must find the CA gone inside its own transaction.
    // (Within one process the connection's mutex would serialise the two requests instead.)
    const other = await startSecondApiNode(s);
    const url = other.url;
    const changes = async () => Number((await s.running.ctx.store.db.selectFrom('changes').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const root = await makeRoot('Delete Race Root');
    try {
      for (let round = 0; round < 3; round++) {
        const created = await upload({ ca: true, certificates: root.pem });
        assert.equal(created.status, 200);
        const id = created.body.result.id;
        const before = await changes();
        const lock = await holdRowLock(s.databaseUrl, 'mtls_certificates', id, 800);
        // The other process first: it reads the CA and waits for the lock, then this one does.
        const viaOther = fetch(`${url}/client/v4/accounts/${s.accountId}/mtls_certificates/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${s.token}` } }).then(
          async (res) => ({ status: res.status, body: (await res.json()) as any }),
        );
        await new Promise((r) => setTimeout(r, 150));
        const results = await Promise.all([s.api('DELETE', `/accounts/${s.accountId}/mtls_certificates/${id}`), viaOther]);
        await lock.released;
        assert.deepEqual(results.map((r) => r.status).sort(), [200, 404], `round ${round}: ${JSON.stringify(results.map((r) => r.body.errors))}`);
        assert.deepEqual(codes(results.find((r) => r.status === 404)!.body), [1820]);
        assert.equal((await changes()) - before, 1, `round ${round}: one deletion, one change for the edges`);
      }
    } finally {
      await other.stop();
    }
  });

  test('racing uploads for the last free CA slot: exactly one wins (×10)', async () => {
    const list = async () => (await s.api('GET', `/accounts/${s.accountId}/mtls_certificates`)).body.result.filter((c: any) => c.ca);
    const roots = await Promise.all([0, 1, 2].map((i) => makeRoot(`Race Root ${i}`)));
    for (let round = 0; round < 10; round++) {
      // Free exactly one slot (first clearing the associations of the CA chosen, if any).
      const cas = await list();
      for (const extra of cas.slice(4)) {
        await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: extra.id, hostnames: [] });
        assert.equal((await s.api('DELETE', `/accounts/${s.accountId}/mtls_certificates/${extra.id}`)).status, 200);
      }
      while ((await list()).length < 4) assert.equal((await upload({ ca: true, certificates: roots[0]!.pem })).status, 200);
      const results = await Promise.all(roots.map((r) => upload({ ca: true, certificates: r.pem })));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 400, 400], `round ${round}`);
      assert.equal((await list()).length, 5);
    }
  });
});
