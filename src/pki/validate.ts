import type { X509Certificate } from 'node:crypto';
import { isoTimestamp } from '../lib/clock.js';
import { MAX_CHAIN, parseCertificateChain, parsePrivateKeyText, SIGNATURES } from './chain.js';
import { refuse } from './refusal.js';
import {
  certificateHosts,
  decimalSerial,
  fingerprintHex,
  issuerName,
  privateKeyMatches,
  type ParsedPrivateKey,
  type KeyType,
  type ParsedCertificate,
} from './parse.js';
import { nameCovers } from './hostname.js';
import type { TrustStore } from './trust.js';

/**
 * The custom-certificate rules of design §2.1, one function and one error each, applied in
 * order by `validateCustomCertificate`. A request that fails any of them stores nothing; the
 * failure is a PkiRefusal the resource answers with its code.
 */

export interface ValidatedCertificate {
  keyType: KeyType;
  /** Leaf then intermediates, canonical PEM. */
  chainPem: string;
  /** The private key block, canonical PEM (to be encrypted before it is stored). */
  keyPem: string;
  issuer: string;
  serialNumber: string;
  signature: string;
  expiresOn: string;
  issuedOn: string;
  fingerprintSha256: string;
  hosts: string[];
}

/** Exactly one leaf (a non-CA certificate); returned first, the intermediates after it. */
export function orderLeafFirst(chain: ParsedCertificate[]): ParsedCertificate[] {
  const leaves = chain.filter((c) => !c.isCa);
  if (leaves.length > 1) throw refuse({ rule: 'multiple_leaves' });
  if (leaves.length === 0) throw refuse({ rule: 'no_leaf' });
  return [leaves[0]!, ...chain.filter((c) => c.isCa)];
}

/** Every RSA handshake costs a private-key operation: 16384 bits is ~150× the work of 2048. */
export const MAX_RSA_BITS = 4096;

export function checkKeyStrength(leaf: ParsedCertificate): KeyType {
  if (leaf.keyType === 'rsa' && (leaf.keyBits ?? 0) > MAX_RSA_BITS) throw refuse({ rule: 'rsa_key_too_large', bits: leaf.keyBits!, max: MAX_RSA_BITS });
  if (leaf.keyType === 'rsa' && (leaf.keyBits ?? 0) >= 2048) return 'rsa';
  if (leaf.keyType === 'ecdsa' && (leaf.curve === 'P-256' || leaf.curve === 'P-384')) return 'ecdsa';
  throw refuse({ rule: 'weak_key', description: leaf.keyDescription });
}

export function checkSignature(leaf: ParsedCertificate): void {
  if (!SIGNATURES.customCertificate.has(leaf.signature)) throw refuse({ rule: 'unsupported_signature', signature: leaf.signature });
}

export function checkKeyMatches(leaf: ParsedCertificate, key: ParsedPrivateKey): void {
  if (!privateKeyMatches(leaf, key)) throw refuse({ rule: 'key_mismatch' });
}

export function checkValidity(leaf: ParsedCertificate, now: Date): void {
  if (leaf.notAfter <= now) throw refuse({ rule: 'expired', notAfter: leaf.notAfter.toISOString() });
  if (leaf.notBefore > now) throw refuse({ rule: 'not_yet_valid', notBefore: leaf.notBefore.toISOString() });
}

export function checkCoversHostname(leaf: ParsedCertificate, hostname: string): string[] {
  const hosts = certificateHosts(leaf.x509);
  if (!hosts.some((name) => nameCovers(name, hostname))) throw refuse({ rule: 'hostname_not_covered', hostname });
  return hosts;
}

/** Builds leaf → intermediates → trusted root; the uploaded intermediates may come in any order. */
export function checkChainTrusted(chain: ParsedCertificate[], trust: TrustStore, now: Date): void {
  const [leaf, ...intermediates] = chain as [ParsedCertificate, ...ParsedCertificate[]];
  let current: X509Certificate = leaf.x509;
  const used = new Set<ParsedCertificate>();
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    if (trust.issuerOf(current) || (depth > 0 && trust.contains(current))) return;
    const next = intermediates.find((c) => !used.has(c) && current.checkIssued(c.x509) && current.verify(c.x509.publicKey));
    if (!next) {
      const selfSigned = current.checkIssued(current) && current.verify(current.publicKey);
      if (depth === 0 && selfSigned) throw refuse({ rule: 'untrusted_chain', detail: 'the certificate is self-signed' });
      throw refuse({ rule: 'untrusted_chain', detail: `no trusted root or uploaded intermediate issued "${issuerName(current)}"` });
    }
    if (next.notAfter <= now) throw refuse({ rule: 'untrusted_chain', detail: `the intermediate "${issuerName(next.x509)}" has expired` });
    used.add(next);
    current = next.x509;
  }
  throw refuse({ rule: 'untrusted_chain', detail: 'the chain is too long' });
}

/** All rules, in order; the first failure is the answer. */
export function validateCustomCertificate(
  input: { certificate: string | undefined; key: string | undefined; hostname: string },
  trust: TrustStore,
  now: Date,
): ValidatedCertificate {
  const chain = orderLeafFirst(parseCertificateChain(input.certificate));
  const leaf = chain[0]!;
  const { key, block: keyBlock } = parsePrivateKeyText(input.key);
  const keyType = checkKeyStrength(leaf);
  checkSignature(leaf);
  checkKeyMatches(leaf, key);
  checkValidity(leaf, now);
  const hosts = checkCoversHostname(leaf, input.hostname);
  checkChainTrusted(chain, trust, now);
  return {
    keyType,
    chainPem: chain.map((c) => c.pem).join(''),
    // The key block as uploaded (canonical PEM): PKCS#8, PKCS#1 or SEC1, all of which TLS loads.
    keyPem: keyBlock.pem,
    issuer: issuerName(leaf.x509),
    serialNumber: decimalSerial(leaf.x509),
    signature: leaf.signature,
    expiresOn: isoTimestamp(leaf.notAfter),
    issuedOn: isoTimestamp(leaf.notBefore),
    fingerprintSha256: fingerprintHex(leaf.x509),
    hosts,
  };
}
