import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { encryptedPem, makeLeaf, makeRoot, makeTestPki, pkcs1Pem, sec1Pem, withEcParameters, withForeignPublicPoint, type Leaf, type TestPki } from '../helpers/pki.js';
import { codes, snapshot } from '../helpers/state.js';

/**
 * Every certificate rule of design §2.1 through POST (create) and PUT (replace): the accepted
 * encodings, and each refusal with its status and code, leaving the store as it was.
 */
let s: TestServer;
let pki: TestPki;
let zoneId: string;
const HOST = 'rules.customer.com';
/** Never created: every refused certificate also names it, so a create of it must fail on the same rule. */
const NEW = 'new.customer.com';
let good: Leaf;
let goodEc: Leaf;
let pack: { hostnameId: string; packId: string; rsaId: string; ecdsaId: string };

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'rules-saas.com', account: { id: s.accountId } })).id;
  good = await pki.leaf({ hosts: [HOST, NEW], keyType: 'rsa' });
  goodEc = await pki.leaf({ hosts: [HOST], keyType: 'ecdsa' });
  const created = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, {
    hostname: HOST,
    ssl: { custom_cert_bundle: [{ custom_certificate: good.chainPem, custom_key: good.keyPem }, { custom_certificate: goodEc.chainPem, custom_key: goodEc.keyPem }] },
  });
  const h = created.body.result;
  pack = {
    hostnameId: h.id,
    packId: h.ssl.id,
    rsaId: h.ssl.certificates.find((c: any) => c.key_type === 'rsa').id,
    ecdsaId: h.ssl.certificates.find((c: any) => c.key_type === 'ecdsa').id,
  };
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

let counter = 0;
const create = (hostname: string, certificate: string | undefined, key: string | undefined) =>
  s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname, ssl: { custom_certificate: certificate, custom_key: key } });
const replace = (certId: string, certificate: string | undefined, key: string | undefined) =>
  s.api('PUT', `/zones/${zoneId}/custom_hostnames/${pack.hostnameId}/certificate_pack/${pack.packId}/certificates/${certId}`, {
    custom_certificate: certificate,
    custom_key: key,
  });

describe('accepted encodings', () => {
  const accepted: Array<[string, (l: Leaf) => { cert: string; key: string }, 'rsa' | 'ecdsa']> = [
    ['PKCS#8 key', (l) => ({ cert: l.chainPem, key: l.keyPem }), 'ecdsa'],
    ['PKCS#1 RSA key', (l) => ({ cert: l.chainPem, key: pkcs1Pem(l) }), 'rsa'],
    ['SEC1 EC key', (l) => ({ cert: l.chainPem, key: sec1Pem(l) }), 'ecdsa'],
    ['EC PARAMETERS block before the key', (l) => ({ cert: l.chainPem, key: withEcParameters(l) }), 'ecdsa'],
    ['literal \\n escapes', (l) => ({ cert: l.chainPem.replace(/\n/g, '\\n'), key: l.keyPem.replace(/\n/g, '\\n') }), 'ecdsa'],
    ['CRLF line ends and surrounding whitespace', (l) => ({ cert: `\r\n  ${l.chainPem.replace(/\n/g, '\r\n')}  \n`, key: `\n${l.keyPem.replace(/\n/g, '\r\n')}\n\n` }), 'rsa'],
  ];
  for (const [name, encode, keyType] of accepted) {
    test(`${name} (create and replace)`, async () => {
      const host = `enc${counter++}.customer.com`;
      const leaf = await pki.leaf({ hosts: [host, HOST], keyType });
      const { cert, key } = encode(leaf);
      const res = await create(host, cert, key);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.result.ssl.certificates[0].key_type, keyType);
      const put = await replace(keyType === 'rsa' ? pack.rsaId : pack.ecdsaId, cert, key);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.result.id, pack.hostnameId);
    });
  }

  test('wildcard certificate covers one label; wildcard hostname with its wildcard certificate; P-384; CN-only certificate', async () => {
    const wild = await pki.leaf({ hosts: ['*.wild.customer.com'], keyType: 'ecdsa', curve: 'P-384' });
    const one = await create('a.wild.customer.com', wild.chainPem, wild.keyPem);
    assert.equal(one.status, 201, JSON.stringify(one.body));
    const star = await create('*.wild.customer.com', wild.chainPem, wild.keyPem);
    assert.equal(star.status, 201, JSON.stringify(star.body));
    const deep = await create('a.b.wild.customer.com', wild.chainPem, wild.keyPem);
    assert.deepEqual(codes(deep.body), [1446]);
    const cnOnly = await pki.leaf({ hosts: ['cn.customer.com'], keyType: 'rsa', cnOnly: true });
    const cn = await create('cn.customer.com', cnOnly.chainPem, cnOnly.keyPem);
    assert.equal(cn.status, 201, JSON.stringify(cn.body));
  });

  test('RSA-signed leaves report SHA256WithRSA and SHA1WithRSA', async () => {
    // Leaves issued straight by the (RSA) root; the root is trusted, so the leaf alone is a chain.
    for (const [hash, name] of [['SHA-256', 'SHA256WithRSA'], ['SHA-1', 'SHA1WithRSA']] as const) {
      const host = `sig-${hash.toLowerCase()}.customer.com`;
      const leaf = await makeLeaf(pki.root, { hosts: [host], keyType: 'rsa', signHash: hash });
      const res = await create(host, leaf.certPem, leaf.keyPem);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.result.ssl.signature, name);
    }
  });

  test('intermediates may come in any order after the leaf, or the leaf after them', async () => {
    const host = 'order.customer.com';
    const leaf = await pki.leaf({ hosts: [host], keyType: 'ecdsa' });
    const res = await create(host, pki.intermediate.pem + leaf.certPem, leaf.keyPem);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.ok(res.body.result.ssl.custom_certificate.startsWith(leaf.certPem.trim().split('\n')[0]));
  });
});

describe('refusals (create and replace): exact status and code, nothing stored', () => {
  interface Bad {
    name: string;
    code: number;
    make: () => Promise<{ cert?: string; key?: string; slot?: 'rsa' | 'ecdsa'; message?: RegExp }>;
  }
  const leaf = (o: Parameters<TestPki['leaf']>[0]) => pki.leaf(o);
  const DAY = 86_400_000;
  const bad: Bad[] = [
    { name: 'empty certificate', code: 1427, make: async () => ({ cert: '  \n', key: good.keyPem }) },
    { name: 'missing certificate', code: 1427, make: async () => ({ key: good.keyPem }) },
    { name: 'garbage certificate', code: 1426, make: async () => ({ cert: 'hello world', key: good.keyPem }) },
    { name: 'truncated base64', code: 1426, make: async () => ({ cert: good.certPem.replace(/\n[A-Za-z0-9+/]{20}/, '\n'), key: good.keyPem }) },
    { name: 'a key in the certificate field', code: 1426, make: async () => ({ cert: good.chainPem + good.keyPem, key: good.keyPem }) },
    { name: 'text between blocks', code: 1426, make: async () => ({ cert: good.certPem + 'oops\n' + pki.intermediate.pem, key: good.keyPem }) },
    { name: 'garbage key', code: 1428, make: async () => ({ cert: good.chainPem, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }) },
    { name: 'missing key', code: 1428, make: async () => ({ cert: good.chainPem }) },
    { name: 'encrypted key (says so)', code: 1428, make: async () => ({ cert: good.chainPem, key: encryptedPem(good), message: /encrypted/ }) },
    { name: 'key of another certificate', code: 1429, make: async () => ({ cert: good.chainPem, key: (await leaf({ hosts: [HOST, NEW], keyType: 'rsa' })).keyPem }) },
    { name: 'ECDSA key of another ECDSA certificate', code: 1429, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: (await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' })).keyPem, slot: 'ecdsa', message: /does not match/ }; } },
    { name: 'P-384 key for a P-256 certificate', code: 1429, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: (await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa', curve: 'P-384' })).keyPem, slot: 'ecdsa' }; } },
    { name: 'ECDSA key for an RSA certificate', code: 1429, make: async () => ({ cert: good.chainPem, key: goodEc.keyPem }) },
    { name: 'RSA key for an ECDSA certificate', code: 1429, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: good.keyPem, slot: 'ecdsa' }; } },
    { name: 'ECDSA key (PKCS#8) stating the public key of another', code: 1428, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: withForeignPublicPoint(l, goodEc, 'pkcs8'), slot: 'ecdsa', message: /not consistent/ }; } },
    { name: 'ECDSA key (SEC1) stating the public key of another', code: 1428, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: withForeignPublicPoint(l, goodEc, 'sec1'), slot: 'ecdsa', message: /not consistent/ }; } },
    { name: 'ECDSA key (SEC1) stating the certificate’s public key but another private key', code: 1428, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa' }); return { cert: l.chainPem, key: withForeignPublicPoint(goodEc, l, 'sec1'), slot: 'ecdsa', message: /not consistent/ }; } },
    { name: 'RSA-1024', code: 1812, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'rsa', rsaBits: 1024 }); return { cert: l.chainPem, key: l.keyPem, message: /RSA 1024/ }; } },
    { name: 'ECDSA P-521', code: 1812, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa', curve: 'P-521' }); return { cert: l.chainPem, key: l.keyPem, slot: 'ecdsa' }; } },
    { name: 'ECDSAWithSHA512 signature', code: 1447, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa', signHash: 'SHA-512' }); return { cert: l.chainPem, key: l.keyPem, slot: 'ecdsa', message: /ECDSAWithSHA512/ }; } },
    { name: 'expired', code: 1810, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa', notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }); return { cert: l.chainPem, key: l.keyPem, slot: 'ecdsa' }; } },
    { name: 'not yet valid', code: 1811, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'ecdsa', notBefore: new Date(Date.now() + DAY) }); return { cert: l.chainPem, key: l.keyPem, slot: 'ecdsa' }; } },
    { name: 'wrong hostname', code: 1446, make: async () => { const l = await leaf({ hosts: ['elsewhere.example.org'], keyType: 'rsa' }); return { cert: l.chainPem, key: l.keyPem }; } },
    { name: 'self-signed', code: 1441, make: async () => { const l = await makeLeaf('self', { hosts: [HOST, NEW], keyType: 'rsa' }); return { cert: l.chainPem, key: l.keyPem, message: /self-signed/ }; } },
    { name: 'intermediate missing', code: 1441, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'rsa' }); return { cert: l.certPem, key: l.keyPem }; } },
    { name: 'issued by an untrusted root', code: 1441, make: async () => { const other = await makeRoot('Stranger Root'); const l = await makeLeaf(other, { hosts: [HOST, NEW], keyType: 'rsa' }); return { cert: l.chainPem, key: l.keyPem }; } },
    { name: 'two leaves', code: 1444, make: async () => { const l = await leaf({ hosts: [HOST, NEW], keyType: 'rsa' }); return { cert: good.certPem + l.certPem, key: good.keyPem }; } },
    { name: 'no leaf', code: 1445, make: async () => ({ cert: pki.intermediate.pem + pki.root.pem, key: good.keyPem }) },
  ];

  for (const b of bad) {
    test(b.name, async () => {
      const input = await b.make();
      const before = await snapshot(s);
      const created = await create(NEW, input.cert, input.key);
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.deepEqual(codes(created.body), [b.code], JSON.stringify(created.body));
      const put = await replace(input.slot === 'ecdsa' ? pack.ecdsaId : pack.rsaId, input.cert, input.key);
      assert.equal(put.status, 400, JSON.stringify(put.body));
      assert.deepEqual(codes(put.body), [b.code], JSON.stringify(put.body));
      if (input.message) assert.match(put.body.errors[0].message, input.message);
      assert.equal(await snapshot(s), before);
    });
  }

  test('each refusal also stops a create of the hostname the certificate names', async () => {
    const host = 'refused.customer.com';
    const before = await snapshot(s);
    const expired = await pki.leaf({ hosts: [host], keyType: 'rsa', notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const res = await create(host, expired.chainPem, expired.keyPem);
    assert.equal(res.status, 400);
    assert.deepEqual(codes(res.body), [1810]);
    const self = await makeLeaf('self', { hosts: [host], keyType: 'ecdsa' });
    const res2 = await create(host, self.chainPem, self.keyPem);
    assert.deepEqual(codes(res2.body), [1441]);
    assert.equal(await snapshot(s), before);
  });
});
