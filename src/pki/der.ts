/**
 * A minimal, bounds-checked DER reader for the two hot spots of a certificate upload, where the
 * general ASN.1 libraries cost more than the whole rest of the X.509 work (measured in
 * bench/api.ts: ~230 µs to map a certificate with @peculiar/asn1-schema, ~360 µs for OpenSSL's
 * PKCS#8 decoder): the certificate's signature algorithm OID, and unwrapping a PKCS#8 key.
 * Anything it does not recognise returns undefined and the caller falls back to OpenSSL.
 */

export interface Tlv {
  tag: number;
  /** Offset of the value. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // multi-byte tags never occur in what we read
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[start + i]!;
    start += bytes;
  }
  const end = start + length;
  if (end > limit) return undefined;
  return { tag, start, end };
}

/** Children of a constructed value. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  let at = parent.start;
  while (at < parent.end) {
    const child = readTlv(buf, at, parent.end);
    if (!child) return undefined;
    out.push(child);
    at = child.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;

export function oidToString(bytes: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    value = value * 128 + (bytes[i]! & 0x7f);
    if ((bytes[i]! & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature }. */
export function signatureAlgorithmOid(der: Uint8Array): string | undefined {
  const cert = readTlv(der, 0);
  if (!cert || cert.tag !== SEQUENCE) return undefined;
  const parts = children(der, cert);
  const algorithm = parts?.[1];
  if (!algorithm || algorithm.tag !== SEQUENCE) return undefined;
  const oid = readTlv(der, algorithm.start, algorithm.end);
  if (!oid || oid.tag !== OID) return undefined;
  return oidToString(der.subarray(oid.start, oid.end));
}

export interface PublicKeyInfo {
  /** The key algorithm's OID (rsaEncryption, id-ecPublicKey, …). */
  algorithm: string;
  /** The algorithm parameters' OID (the named curve for EC keys), if any. */
  parameter: string | undefined;
  /** The subjectPublicKey BIT STRING's bits: RSAPublicKey DER, or the EC point. */
  key: Uint8Array;
}

/**
 * The certificate's SubjectPublicKeyInfo. TBSCertificate ::= SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, … }. Node only offers
 * the key's type and size through `x509.publicKey`, which makes OpenSSL 3 decode the key into an
 * object of its own (~25 µs for RSA, ~60 µs for P-256 here) just to report them.
 */
export function subjectPublicKeyInfo(der: Uint8Array): PublicKeyInfo | undefined {
  const cert = readTlv(der, 0);
  if (!cert || cert.tag !== SEQUENCE) return undefined;
  const tbs = readTlv(der, cert.start, cert.end);
  if (!tbs || tbs.tag !== SEQUENCE) return undefined;
  const fields = children(der, tbs);
  if (!fields) return undefined;
  const spki = fields[fields[0]?.tag === 0xa0 ? 6 : 5];
  if (!spki || spki.tag !== SEQUENCE) return undefined;
  const [algorithm, bits] = children(der, spki) ?? [];
  if (!algorithm || algorithm.tag !== SEQUENCE || !bits || bits.tag !== 0x03 || bits.end === bits.start || der[bits.start] !== 0) return undefined;
  const [oid, params] = children(der, algorithm) ?? [];
  if (!oid || oid.tag !== OID) return undefined;
  return {
    algorithm: oidToString(der.subarray(oid.start, oid.end)),
    parameter: params && params.tag === OID ? oidToString(der.subarray(params.start, params.end)) : undefined,
    key: der.subarray(bits.start + 1, bits.end),
  };
}

/** The size in bits of an RSAPublicKey's modulus (RSAPublicKey ::= SEQUENCE { modulus, publicExponent }). */
export function rsaModulusBits(der: Uint8Array): number | undefined {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== der.length) return undefined;
  const [modulus, exponent] = children(der, seq) ?? [];
  if (!modulus || modulus.tag !== INTEGER || !exponent || exponent.tag !== INTEGER) return undefined;
  let s = modulus.start;
  while (s < modulus.end && der[s] === 0) s++; // the sign byte
  if (s === modulus.end) return undefined;
  return (modulus.end - s - 1) * 8 + (32 - Math.clz32(der[s]!));
}

export interface Pkcs8Parts {
  algorithm: string;
  /** The algorithm parameters' OID (the named curve for EC keys), if any. */
  parameter: string | undefined;
  /** The inner key: RSAPrivateKey (PKCS#1) or ECPrivateKey (SEC1) DER. */
  inner: Uint8Array;
}

/** PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier { OID, params }, privateKey OCTET STRING, … }. */
export function unwrapPkcs8(der: Uint8Array): Pkcs8Parts | undefined {
  const info = readTlv(der, 0);
  if (!info || info.tag !== SEQUENCE || info.end !== der.length) return undefined;
  const [version, algorithm, key] = children(der, info) ?? [];
  if (!version || version.tag !== INTEGER || !algorithm || algorithm.tag !== SEQUENCE || !key || key.tag !== OCTET_STRING) return undefined;
  const [oid, params] = children(der, algorithm) ?? [];
  if (!oid || oid.tag !== OID) return undefined;
  return {
    algorithm: oidToString(der.subarray(oid.start, oid.end)),
    parameter: params && params.tag === OID ? oidToString(der.subarray(params.start, params.end)) : undefined,
    inner: der.subarray(key.start, key.end),
  };
}

/** The INTEGERs of an RSAPrivateKey: version, n, e, d, p, q, dp, dq, qi (unsigned, big-endian). */
export function rsaPrivateKeyIntegers(der: Uint8Array): Uint8Array[] | undefined {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== der.length) return undefined;
  const ints = children(der, seq);
  if (!ints || ints.length !== 9 || ints.some((t) => t.tag !== INTEGER || t.end === t.start)) return undefined;
  return ints.map((t) => {
    let s = t.start;
    while (s < t.end - 1 && der[s] === 0) s++; // drop the sign byte
    return der.subarray(s, t.end);
  });
}

/**
 * ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters (the named
 * curve's OID)?, [1] publicKey BIT STRING? }. Undefined when an optional field is present but unreadable.
 */
export function ecPrivateKeyParts(
  der: Uint8Array,
): { d: Uint8Array; curve: string | undefined; publicPoint: Uint8Array | undefined } | undefined {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== der.length) return undefined;
  const parts = children(der, seq);
  if (!parts || parts.length < 2 || parts[0]!.tag !== INTEGER || parts[1]!.tag !== OCTET_STRING) return undefined;
  if (parts[0]!.end - parts[0]!.start !== 1 || der[parts[0]!.start] !== 1) return undefined; // version 1
  let curve: string | undefined;
  const parameters = parts.find((p) => p.tag === 0xa0);
  if (parameters) {
    const oid = readTlv(der, parameters.start, parameters.end);
    if (!oid || oid.tag !== OID) return undefined;
    curve = oidToString(der.subarray(oid.start, oid.end));
  }
  let publicPoint: Uint8Array | undefined;
  const explicitPublic = parts.find((p) => p.tag === 0xa1);
  if (explicitPublic) {
    const bits = readTlv(der, explicitPublic.start, explicitPublic.end);
    // BIT STRING: one "unused bits" byte (0), then the point (04 || X || Y uncompressed).
    if (!bits || bits.tag !== 0x03 || bits.end === bits.start || der[bits.start] !== 0) return undefined;
    publicPoint = der.subarray(bits.start + 1, bits.end);
  }
  return { d: der.subarray(parts[1]!.start, parts[1]!.end), curve, publicPoint };
}
