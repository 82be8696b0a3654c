import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { parsePrivateKey } from '../../src/pki/parse.js';
import { signatureAlgorithmOid, oidToString, readTlv, unwrapPkcs8 } from '../../src/pki/der.js';
import { splitPemBlocks } from '../../src/pki/pem.js';
import { makeTestPki } from '../helpers/pki.js';

/** The fast key path must give exactly the key OpenSSL's decoder gives, for every encoding. */
test('fast key parsing equals OpenSSL decoding (RSA, P-256, P-384, P-521; PKCS#8, PKCS#1, SEC1)', () => {
  const keys = [
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey,
  ];
  for (const key of keys) {
    const legacy = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1';
    for (const type of ['pkcs8', legacy] as const) {
      const pem = key.export({ type, format: 'pem' }) as string;
      const [block] = splitPemBlocks(pem);
      const parsed = parsePrivateKey(block!);
      const reference = createPrivateKey(pem);
      assert.deepEqual(parsed.export({ type: 'pkcs8', format: 'der' }), reference.export({ type: 'pkcs8', format: 'der' }), `${key.asymmetricKeyType} ${type}`);
    }
  }
});

test('malformed DER never throws from the reader; a truncated key is refused by OpenSSL', () => {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const [block] = splitPemBlocks(pem);
  for (let cut = 0; cut < block!.der.length; cut += 7) {
    const der = block!.der.subarray(0, cut);
    assert.doesNotThrow(() => unwrapPkcs8(der));
    assert.throws(() => parsePrivateKey({ ...block!, der: Buffer.from(der) }));
  }
  assert.equal(readTlv(new Uint8Array([0x30, 0x85, 1, 1, 1, 1, 1]), 0), undefined);
  assert.equal(oidToString(new Uint8Array([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])), '1.2.840.10045.4.3.2');
});

test('signature algorithm OID of real certificates', async () => {
  const pki = await makeTestPki();
  const leaf = await pki.leaf({ hosts: ['a.example.com'], keyType: 'rsa' });
  const [block] = splitPemBlocks(leaf.certPem);
  assert.equal(signatureAlgorithmOid(block!.der), '1.2.840.10045.4.3.2'); // ECDSA intermediate, SHA-256
  const [root] = splitPemBlocks(pki.root.pem);
  assert.equal(signatureAlgorithmOid(root!.der), '1.2.840.113549.1.1.11'); // sha256WithRSAEncryption
  assert.ok(new X509Certificate(root!.der).ca);
});
