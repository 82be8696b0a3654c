import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Test PKI minted at run time (so it never expires): a private RSA root, an ECDSA intermediate
 * under it, and leaves of every kind the certificate rules must accept or refuse.
 */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle;
type Keys = CryptoKeyPair;

const RSA = (bits = 2048, hash = 'SHA-256') => ({ name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash });
const EC = (curve = 'P-256', hash = 'SHA-256') => ({ name: 'ECDSA', namedCurve: curve, hash });

export interface Issuer {
  cert: x509.X509Certificate;
  keys: Keys;
  signing: Algorithm & { hash?: string };
  pem: string;
}

export interface Leaf {
  /** Leaf PEM only. */
  certPem: string;
  /** Leaf + intermediate (what users upload). */
  chainPem: string;
  keyPem: string;
  keyObject: KeyObject;
  serialHex: string;
}

const DAY = 86_400_000;
let serial = 1000;
const nextSerial = () => (serial++).toString(16).padStart(4, '0');

async function generate(alg: ReturnType<typeof RSA> | ReturnType<typeof EC>): Promise<Keys> {
  return (await subtle.generateKey(alg as any, true, ['sign', 'verify'])) as Keys;
}

export async function makeRoot(name = 'edgecert Test Root'): Promise<Issuer> {
  const signing = RSA();
  const keys = await generate(signing);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}, O=edgecert Test PKI`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    keys,
    signingAlgorithm: signing,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert, keys, signing, pem: cert.toString('pem') + '\n' };
}

export async function makeIntermediate(root: Issuer, name = 'edgecert Test Intermediate'): Promise<Issuer> {
  const signing = EC();
  const keys = await generate(signing);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: `CN=${name}, O=edgecert Test CA`,
    issuer: root.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 1825 * DAY),
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: root.signing,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert, keys, signing, pem: cert.toString('pem') + '\n' };
}

export interface LeafOptions {
  hosts: string[];
  keyType?: 'rsa' | 'ecdsa';
  rsaBits?: number;
  curve?: 'P-256' | 'P-384' | 'P-521';
  notBefore?: Date;
  notAfter?: Date;
  /** Hash the issuer signs with (SHA-512 gives an unsupported signature algorithm). */
  signHash?: string;
  /** Put the first host in the CN only, no SAN extension. */
  cnOnly?: boolean;
  ca?: boolean;
}

export async function makeLeaf(issuer: Issuer | 'self', opts: LeafOptions): Promise<Leaf> {
  const alg = opts.keyType === 'rsa' ? RSA(opts.rsaBits ?? 2048) : EC(opts.curve ?? 'P-256', opts.curve === 'P-384' ? 'SHA-384' : 'SHA-256');
  const keys = await generate(alg);
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(opts.ca ?? false, undefined, true)];
  if (!opts.cnOnly) extensions.push(new x509.SubjectAlternativeNameExtension(opts.hosts.map((h) => ({ type: 'dns' as const, value: h }))));
  const notBefore = opts.notBefore ?? new Date(Date.now() - DAY);
  const notAfter = opts.notAfter ?? new Date(Date.now() + 365 * DAY);
  const serialNumber = nextSerial();
  let cert: x509.X509Certificate;
  if (issuer === 'self') {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber,
      name: `CN=${opts.hosts[0]}`,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: alg,
      extensions,
    });
  } else {
    const signing = opts.signHash ? { ...issuer.signing, hash: opts.signHash } : issuer.signing;
    let signingKey = issuer.keys.privateKey;
    if (opts.signHash && issuer.signing.name === 'RSASSA-PKCS1-v1_5') {
      // WebCrypto binds an RSA key to one hash: re-import the issuer key for the other one.
      const der = await subtle.exportKey('pkcs8', issuer.keys.privateKey);
      signingKey = await subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: opts.signHash }, false, ['sign']);
    }
    cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: `CN=${opts.hosts[0]}`,
      issuer: issuer.cert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: signing,
      extensions,
    });
  }
  const keyObject = KeyObject.from(keys.privateKey as any);
  const certPem = cert.toString('pem') + '\n';
  return {
    certPem,
    chainPem: issuer === 'self' || issuer.cert.subject === issuer.cert.issuer ? certPem : certPem + issuer.pem,
    keyPem: keyObject.export({ type: 'pkcs8', format: 'pem' }) as string,
    keyObject,
    serialHex: serialNumber,
  };
}

/** The key in the legacy encodings OpenSSL also writes. */
export const pkcs1Pem = (leaf: Leaf) => leaf.keyObject.export({ type: 'pkcs1', format: 'pem' }) as string;
export const sec1Pem = (leaf: Leaf) => leaf.keyObject.export({ type: 'sec1', format: 'pem' }) as string;
/** What `openssl ecparam -name prime256v1 -genkey` writes: an EC PARAMETERS block, then the SEC1 key. */
export const withEcParameters = (leaf: Leaf) => '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n' + sec1Pem(leaf);
/** An EC key's public point as OpenSSL gives it (uncompressed: 04 || X || Y). */
export function ecPublicPointOf(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

/** The leaf's EC key (PKCS#8 or SEC1) with the public point of `other` in place of its own: a corrupt key. */
export function withForeignPublicPoint(leaf: Leaf, other: Leaf, type: 'pkcs8' | 'sec1'): string {
  const point = (l: Leaf) => ecPublicPointOf(l.keyObject);
  const der = leaf.keyObject.export({ type, format: 'der' });
  const label = type === 'pkcs8' ? 'PRIVATE KEY' : 'EC PRIVATE KEY';
  const at = der.indexOf(point(leaf));
  if (at < 0) throw new Error('the key states no public point');
  point(other).copy(der, at);
  return `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}
export const encryptedPem = (leaf: Leaf) =>
  leaf.keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;

export interface TestPki {
  root: Issuer;
  intermediate: Issuer;
  /** PEM for EDGECERT_TRUST_CA_FILE. */
  trustPem: string;
  leaf(opts: LeafOptions): Promise<Leaf>;
}

export async function makeTestPki(): Promise<TestPki> {
  const root = await makeRoot();
  const intermediate = await makeIntermediate(root);
  return { root, intermediate, trustPem: root.pem, leaf: (opts) => makeLeaf(intermediate, opts) };
}
