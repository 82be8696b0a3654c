import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { KeyRefusal, parseCertificate, parsePrivateKey, privateKeyMatches } from '../../src/pki/parse.js';
import { rsaModulusBits, signatureAlgorithmOid, oidToString, readTlv, subjectPublicKeyInfo, unwrapPkcs8 } from '../../src/pki/der.js';
import { splitPemBlocks } from '../../src/pki/pem.js';
import { ecPublicPointOf, makeTestPki, withForeignPublicPoint } from '../helpers/pki.js';

/** The fast key path must give exactly the key OpenSSL's decoder gives, for every encoding. */
test('fast key parsing equals OpenSSL decoding (RSA, P-256, P-384, P-521, secp256k1; PKCS#8, PKCS#1, SEC1)', () => {
  const keys = [
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey,
  ];
  for (const key of keys) {
    const legacy = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1';
    for (const type of ['pkcs8', legacy] as const) {
      const pem = key.export({ type, format: 'pem' }) as string;
      const [block] = splitPemBlocks(pem);
      const parsed = parsePrivateKey(block!);
      const reference = createPrivateKey(pem);
      const curve = reference.asymmetricKeyDetails?.namedCurve;
      if (curve) {
        // EC keys are their curve and the point computed from the private scalar.
        assert.equal(parsed.object, undefined, `${curve} ${type} took OpenSSL's path`);
        assert.equal(parsed.curve.openssl, curve);
        assert.deepEqual(parsed.publicPoint, ecPublicPointOf(reference), `${curve} ${type}`);
      } else {
        assert.ok(parsed.object);
        assert.deepEqual(parsed.object.export({ type: 'pkcs8', format: 'der' }), reference.export({ type: 'pkcs8', format: 'der' }), `${key.asymmetricKeyType} ${type}`);
      }
    }
  }
});

test('an EC key without a stated public point (optional in SEC1) is its computed point', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
  // ECPrivateKey { version 1, privateKey d, [0] prime256v1 } and nothing else.
  const curveOid = Buffer.from('06082a8648ce3d030107', 'hex');
  const body = Buffer.concat([Buffer.from('020101', 'hex'), Buffer.from([0x04, 32]), d, Buffer.from([0xa0, curveOid.length]), curveOid]);
  const der = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  const parsed = parsePrivateKey({ type: 'EC PRIVATE KEY', der, pem: '' });
  assert.equal(parsed.object, undefined);
  assert.deepEqual(parsed.publicPoint, ecPublicPointOf(key));
});

test('a private key matches only the certificate of its own public key', async () => {
  const pki = await makeTestPki();
  const [ec, ec2, ec384, rsa] = await Promise.all([
    pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa' }),
    pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa' }),
    pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa', curve: 'P-384' }),
    pki.leaf({ hosts: ['a.example.com'], keyType: 'rsa' }),
  ]);
  const certificate = (l: typeof ec) => parseCertificate(splitPemBlocks(l.certPem)[0]!);
  const key = (l: typeof ec) => parsePrivateKey(splitPemBlocks(l.keyPem)[0]!);
  for (const [cert, k, expected] of [
    [ec, ec, true], [ec384, ec384, true], [rsa, rsa, true],
    [ec, ec2, false], [ec, ec384, false], [ec384, ec, false], [ec, rsa, false], [rsa, ec, false],
  ] as const) {
    const c = certificate(cert);
    assert.equal(privateKeyMatches(c, key(k)), expected, `${c.keyDescription} certificate, ${key(k).object ? 'OpenSSL' : 'EC'} key`);
    // OpenSSL's own answer for the same pair.
    assert.equal(c.x509.checkPrivateKey(k.keyObject), expected);
  }
});

test('an EC key whose private scalar is not valid for its curve is refused', () => {
  // ECPrivateKey { version 1, privateKey 0…0 (32 bytes), [0] prime256v1 }: d = 0 has no public point.
  const curveOid = Buffer.from('06082a8648ce3d030107', 'hex');
  const body = Buffer.concat([Buffer.from('020101', 'hex'), Buffer.from([0x04, 32]), Buffer.alloc(32), Buffer.from([0xa0, curveOid.length]), curveOid]);
  const der = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  assert.throws(() => parsePrivateKey({ type: 'EC PRIVATE KEY', der, pem: '' }));
});

test('compressed EC points, in the certificate or stated by the key, compare as the same point', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-compressed-'));
  try {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'plain.key');
    openssl('ec', '-in', 'plain.key', '-conv_form', 'compressed', '-out', 'compressed.key');
    openssl('req', '-x509', '-key', 'compressed.key', '-subj', '/CN=c.example.com', '-days', '2', '-out', 'cert.pem');
    const certificate = parseCertificate(splitPemBlocks(readFileSync(path.join(dir, 'cert.pem'), 'utf8'))[0]!);
    assert.equal(certificate.ecPoint?.length, 33, 'the certificate holds a compressed point');
    for (const file of ['plain.key', 'compressed.key']) {
      const key = parsePrivateKey(splitPemBlocks(readFileSync(path.join(dir, file), 'utf8'))[0]!);
      assert.equal(key.object, undefined, file);
      assert.equal(privateKeyMatches(certificate, key), true, file);
    }
    const other = parsePrivateKey(splitPemBlocks(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string)[0]!);
    assert.equal(privateKeyMatches(certificate, other), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an EC key stating a public point that is not its own is refused (P-256, P-384)', async () => {
  const pki = await makeTestPki();
  for (const curve of ['P-256', 'P-384'] as const) {
    const [a, b] = await Promise.all([pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa', curve }), pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa', curve })]);
    for (const type of ['pkcs8', 'sec1'] as const) {
      const [block] = splitPemBlocks(withForeignPublicPoint(a, b, type));
      assert.throws(() => parsePrivateKey(block!), (err: Error) => err instanceof KeyRefusal && /not consistent/.test(err.message), `${curve} ${type}`);
      // And it would have passed OpenSSL's own match, which reads only the stated point.
      const c = parseCertificate(splitPemBlocks(b.certPem)[0]!);
      assert.equal(c.x509.checkPrivateKey(createPrivateKey(withForeignPublicPoint(a, b, type))), true, `${curve} ${type}`);
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

/** The key facts read from the certificate's DER must be exactly what OpenSSL reports. */
test('certificate key type, size and curve from the DER equal OpenSSL’s (RSA sizes, P-256/384/521, Ed25519)', async () => {
  const pki = await makeTestPki();
  const leaves = await Promise.all([
    ...[1024, 2047, 2048, 3072, 4096].map((rsaBits) => pki.leaf({ hosts: ['a.example.com'], keyType: 'rsa', rsaBits })),
    ...(['P-256', 'P-384', 'P-521'] as const).map((curve) => pki.leaf({ hosts: ['a.example.com'], keyType: 'ecdsa', curve })),
  ]);
  const ed25519 = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const edCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=ed', notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date(Date.now() + 86_400_000),
    keys: ed25519, signingAlgorithm: { name: 'Ed25519' },
  });
  const pems = [...leaves.map((l) => l.certPem), edCert.toString('pem')];
  const seen = new Set<string>();
  for (const pem of pems) {
    const [block] = splitPemBlocks(pem);
    const parsed = parseCertificate(block!);
    const key = new X509Certificate(pem).publicKey;
    const details = key.asymmetricKeyDetails ?? {};
    const expectedType = key.asymmetricKeyType === 'ec' ? 'ecdsa' : key.asymmetricKeyType;
    assert.equal(parsed.keyType, expectedType);
    assert.equal(parsed.keyBits, details.modulusLength);
    const curveNames: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    assert.equal(parsed.curve, details.namedCurve ? curveNames[details.namedCurve] : undefined);
    // EC facts come from the DER (OpenSSL's path leaves no point): the point is OpenSSL's.
    if (details.namedCurve) assert.deepEqual(Buffer.from(parsed.ecPoint!), ecPublicPointOf(key));
    seen.add(parsed.keyDescription);
  }
  assert.deepEqual([...seen], ['RSA 1024', 'RSA 2047', 'RSA 2048', 'RSA 3072', 'RSA 4096', 'ECDSA P-256', 'ECDSA P-384', 'ECDSA P-521', 'ed25519']);
});

test('the SubjectPublicKeyInfo reader refuses truncated certificates without throwing', async () => {
  const pki = await makeTestPki();
  const [block] = splitPemBlocks((await pki.leaf({ hosts: ['a.example.com'], keyType: 'rsa' })).certPem);
  assert.equal(subjectPublicKeyInfo(block!.der)?.algorithm, '1.2.840.113549.1.1.1');
  assert.equal(rsaModulusBits(subjectPublicKeyInfo(block!.der)!.key), 2048);
  for (let cut = 0; cut < block!.der.length; cut += 11) assert.doesNotThrow(() => subjectPublicKeyInfo(block!.der.subarray(0, cut)));
  assert.equal(rsaModulusBits(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x03])), undefined);
});
