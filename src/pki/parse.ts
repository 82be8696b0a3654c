import { ECDH, X509Certificate, createECDH, createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { PemBlock } from './pem.js';
import { ecPrivateKeyParts, rsaModulusBits, rsaPrivateKeyIntegers, signatureAlgorithmOid, subjectPublicKeyInfo, unwrapPkcs8 } from './der.js';

/** Cloudflare's names for signature algorithms, by OID. */
const SIGNATURE_NAMES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'MD5WithRSA',
  '1.2.840.113549.1.1.5': 'SHA1WithRSA',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.113549.1.1.11': 'SHA256WithRSA',
  '1.2.840.113549.1.1.12': 'SHA384WithRSA',
  '1.2.840.113549.1.1.13': 'SHA512WithRSA',
  '1.2.840.10045.4.1': 'ECDSAWithSHA1',
  '1.2.840.10045.4.3.2': 'ECDSAWithSHA256',
  '1.2.840.10045.4.3.3': 'ECDSAWithSHA384',
  '1.2.840.10045.4.3.4': 'ECDSAWithSHA512',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

export type KeyType = 'rsa' | 'ecdsa';

const RSA_OID = '1.2.840.113549.1.1.1';
const EC_OID = '1.2.840.10045.2.1';

export interface ParsedCertificate {
  x509: X509Certificate;
  pem: string;
  /** e.g. SHA256WithRSA, ECDSAWithSHA256; the OID when we have no name for it. */
  signature: string;
  /** 'rsa' | 'ecdsa', or the raw key type for anything else (refused later). */
  keyType: KeyType | string;
  /** "RSA 2048", "ECDSA P-256", … for messages and strength checks. */
  keyDescription: string;
  keyBits: number | undefined;
  curve: string | undefined;
  /** The EC public point as the certificate holds it (curves of EC_CURVES, read from the DER). */
  ecPoint: Uint8Array | undefined;
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
}

/** The named curves edgecert knows, by OID: the name it shows, OpenSSL's name, the size of a scalar. */
interface EcCurve {
  name: string;
  openssl: string;
  size: number;
}
const EC_CURVES: Record<string, EcCurve> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', openssl: 'prime256v1', size: 32 },
  '1.3.132.0.34': { name: 'P-384', openssl: 'secp384r1', size: 48 },
  '1.3.132.0.35': { name: 'P-521', openssl: 'secp521r1', size: 66 },
  '1.3.132.0.10': { name: 'secp256k1', openssl: 'secp256k1', size: 32 },
};
const CURVE_NAMES_BY_OPENSSL_NAME = Object.fromEntries(Object.values(EC_CURVES).map((c) => [c.openssl, c.name]));

interface PublicKeyFacts {
  /** Node's name for the key type: 'rsa', 'ec', 'ed25519', … */
  rawType: string;
  keyBits: number | undefined;
  curve: string | undefined;
  ecPoint?: Uint8Array;
}

/**
 * Type and size of the certificate's key, read from its DER for RSA and the named curves above;
 * undefined for anything else, which OpenSSL then describes (publicKeyFactsFromOpenSsl).
 */
function publicKeyFacts(der: Uint8Array): PublicKeyFacts | undefined {
  const spki = subjectPublicKeyInfo(der);
  if (spki?.algorithm === RSA_OID) {
    const keyBits = rsaModulusBits(spki.key);
    return keyBits === undefined ? undefined : { rawType: 'rsa', keyBits, curve: undefined };
  }
  const curve = spki?.algorithm === EC_OID && spki.parameter ? EC_CURVES[spki.parameter] : undefined;
  if (spki && curve) return { rawType: 'ec', keyBits: undefined, curve: curve.name, ecPoint: spki.key };
  return undefined;
}

function publicKeyFactsFromOpenSsl(x509: X509Certificate): PublicKeyFacts {
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  return {
    rawType: key.asymmetricKeyType ?? 'unknown',
    keyBits: details.modulusLength,
    curve: details.namedCurve ? (CURVE_NAMES_BY_OPENSSL_NAME[details.namedCurve] ?? details.namedCurve) : undefined,
  };
}

/** Parses one certificate block; throws (with a reason) when it is not a certificate. */
export function parseCertificate(block: PemBlock): ParsedCertificate {
  const x509 = new X509Certificate(block.der);
  // Node's X509Certificate does not expose the signature algorithm: read its OID from the DER.
  const oid = signatureAlgorithmOid(block.der) ?? 'unknown';
  const { rawType, keyBits, curve, ecPoint } = publicKeyFacts(block.der) ?? publicKeyFactsFromOpenSsl(x509);
  const keyType = rawType === 'rsa' ? 'rsa' : rawType === 'ec' ? 'ecdsa' : rawType;
  return {
    x509,
    pem: block.pem,
    signature: SIGNATURE_NAMES[oid] ?? oid,
    keyType,
    keyDescription: keyType === 'rsa' ? `RSA ${keyBits}` : keyType === 'ecdsa' ? `ECDSA ${curve}` : rawType,
    keyBits,
    curve,
    ecPoint,
    isCa: x509.ca,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
  };
}

const KEY_TYPES: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * A private key as the rules need it. EC keys (curves of EC_CURVES) are their curve and the
 * public point computed from the private scalar, compared with the certificate's point; every
 * other key is an OpenSSL KeyObject, compared with `X509Certificate.checkPrivateKey`.
 */
export type ParsedPrivateKey = { curve: EcCurve; publicPoint: Buffer; object?: undefined } | { object: KeyObject };

/** A key refused for a reason worth telling the uploader: its message says what is wrong. */
export class KeyRefusal extends Error {}

/**
 * Parses a private key block. OpenSSL 3's PKCS#8 decoder costs ~360 µs a key here, its PKCS#1
 * and SEC1 decoders ~120 µs. So RSA keys are unwrapped (der.ts) into a JWK, whose import costs
 * 7–55 µs.
 *
 * EC keys on the curves of EC_CURVES are not handed to OpenSSL: its decoders and its JWK
 * import take the public point the key states without checking it against the private scalar,
 * so `checkPrivateKey` (which compares public points) passed a key stating the certificate's
 * point over another scalar. The point is computed from the scalar instead (ECDH), which also proves the scalar
 * valid for the curve: 25–45 µs on P-256 (a P-256 JWK import cost 75–100 µs), but ~870 µs on
 * P-384 and ~2.3 ms on P-521, which OpenSSL computes without a curve-specific implementation.
 * Anything else goes to OpenSSL with its explicit DER type.
 */
export function parsePrivateKey(block: PemBlock): ParsedPrivateKey {
  const type = KEY_TYPES[block.type];
  if (!type) throw new KeyRefusal(`a ${block.type} block is not a private key`);
  const fast = unwrapKey(block.der, type);
  if (fast?.kind === 'rsa') {
    try {
      return { object: createPrivateKey({ key: fast.jwk, format: 'jwk' }) };
    } catch {
      /* let OpenSSL's decoder give the verdict below */
    }
  }
  if (fast?.kind === 'ec') return { curve: fast.curve, publicPoint: ecPublicPoint(fast) };
  return { object: createPrivateKey({ key: block.der, format: 'der', type }) };
}

/** d·G for the key's scalar d; throws when d is not valid for the curve (0, or not below its order). */
function ecPublicPoint(key: { curve: EcCurve; d: Uint8Array; statedPoint: Uint8Array | undefined }): Buffer {
  const ecdh = createECDH(key.curve.openssl);
  ecdh.setPrivateKey(key.d);
  const point = ecdh.getPublicKey();
  // An EC key may state its public point too; TLS would use it, so it must be the one d gives.
  const stated = key.statedPoint && uncompressed(key.statedPoint, key.curve);
  if (key.statedPoint && !(stated && point.equals(stated))) {
    throw new KeyRefusal('the key is not consistent: its public key does not belong to its private key');
  }
  return point;
}

/** An EC point in uncompressed form (04 || X || Y); undefined when it is not a point of the curve. */
function uncompressed(point: Uint8Array, curve: EcCurve): Uint8Array | undefined {
  if (point[0] === 4) return point;
  try {
    return ECDH.convertKey(point, curve.openssl, undefined, undefined, 'uncompressed') as Buffer;
  } catch {
    return undefined;
  }
}

const b64u = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

type UnwrappedKey =
  | { kind: 'rsa'; jwk: JsonWebKey }
  | { kind: 'ec'; curve: EcCurve; d: Uint8Array; statedPoint: Uint8Array | undefined };

/** The parts of an RSA or EC key, read from PKCS#8, PKCS#1 or SEC1 DER; undefined for anything else. */
function unwrapKey(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1'): UnwrappedKey | undefined {
  let inner: Uint8Array = der;
  let kind: 'rsa' | 'ec' | undefined = type === 'pkcs1' ? 'rsa' : type === 'sec1' ? 'ec' : undefined;
  let curve: EcCurve | undefined;
  if (type === 'pkcs8') {
    const parts = unwrapPkcs8(der);
    if (!parts) return undefined;
    inner = parts.inner;
    if (parts.algorithm === RSA_OID) kind = 'rsa';
    else if (parts.algorithm === EC_OID && parts.parameter) {
      kind = 'ec';
      curve = EC_CURVES[parts.parameter];
    }
  }
  if (kind === 'rsa') {
    const ints = rsaPrivateKeyIntegers(inner);
    if (!ints || ints[0]!.length !== 1 || ints[0]![0] !== 0) return undefined; // two-prime keys only
    const [, n, e, d, p, q, dp, dq, qi] = ints.map(b64u);
    return { kind: 'rsa', jwk: { kty: 'RSA', n, e, d, p, q, dp, dq, qi } };
  }
  if (kind === 'ec') {
    const ec = ecPrivateKeyParts(inner);
    if (!ec) return undefined;
    // SEC1 names the curve inside the key; PKCS#8 outside it, and may repeat it inside.
    const named = ec.curve === undefined ? undefined : EC_CURVES[ec.curve];
    if (type === 'sec1') curve = named;
    else if (ec.curve !== undefined && named !== curve) return undefined;
    if (!curve || ec.d.length !== curve.size) return undefined;
    return { kind: 'ec', curve, d: ec.d, statedPoint: ec.publicPoint };
  }
  return undefined;
}

/** Does the private key belong to the certificate's public key? */
export function privateKeyMatches(certificate: ParsedCertificate, key: ParsedPrivateKey): boolean {
  if (key.object) return certificate.x509.checkPrivateKey(key.object);
  if (certificate.curve !== key.curve.name || !certificate.ecPoint) return false;
  const certified = uncompressed(certificate.ecPoint, key.curve);
  return certified !== undefined && key.publicPoint.equals(certified);
}

/** DNS names the certificate is for: its SANs, or its CN when it has no SAN extension. */
export function certificateHosts(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san) {
    return san
      .split(', ')
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => entry.slice(4).replace(/^"|"$/g, '').toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** The issuer's organisation, else its common name (Cloudflare shows e.g. "DigiCertInc"). */
export function issuerName(x509: X509Certificate): string {
  const o = /(?:^|\n)O=([^\n]+)/.exec(x509.issuer)?.[1];
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.issuer)?.[1];
  return o ?? cn ?? x509.issuer.replace(/\n/g, ', ');
}

export const decimalSerial = (x509: X509Certificate): string => BigInt('0x' + x509.serialNumber).toString(10);
export const fingerprintHex = (x509: X509Certificate): string => x509.fingerprint256.replace(/:/g, '').toLowerCase();
