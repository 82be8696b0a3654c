import type { X509Certificate } from 'node:crypto';
import { Errors } from '../api/errors.js';
import { isoTimestamp } from '../lib/clock.js';
import { hasStrayText, normalisePemText, splitPemBlocks, TooManyPemBlocks, type PemBlock } from './pem.js';
import {
  certificateHosts,
  decimalSerial,
  fingerprintHex,
  issuerName,
  parseCertificate,
  parsePrivateKey,
  privateKeyMatches,
  KeyRefusal,
  type ParsedPrivateKey,
  type KeyType,
  type ParsedCertificate,
} from './parse.js';
import { nameCovers } from './hostname.js';
import type { TrustStore } from './trust.js';

/**
 * The custom-certificate rules of design §2.1, one function and one error each, applied in
 * order by `validateCustomCertificate`. A request that fails any of them stores nothing.
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

const ACCEPTED_SIGNATURES = new Set(['SHA256WithRSA', 'SHA1WithRSA', 'ECDSAWithSHA256', 'ECDSAWithSHA384']);
const MAX_CHAIN = 10;

export function requireCertificateText(text: string | undefined): string {
  if (text === undefined || normalisePemText(text) === '') throw Errors.certEmpty();
  return text;
}

/** The PEM blocks of an upload; too many of them is `refuse`'s error. */
export function pemBlocksOf(text: string, refuse: (why: string) => Error): ReturnType<typeof splitPemBlocks> {
  try {
    return splitPemBlocks(text);
  } catch (err) {
    if (err instanceof TooManyPemBlocks) throw refuse(err.message);
    throw err;
  }
}

export function parseChain(text: string): ParsedCertificate[] {
  const blocks = pemBlocksOf(text, Errors.certUnparsable);
  const certBlocks = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (certBlocks.length === 0) throw Errors.certUnparsable('no PEM CERTIFICATE block was found');
  const other = blocks.find((b) => b.type !== 'CERTIFICATE');
  if (other) throw Errors.certUnparsable(`a ${other.type} block is not allowed in the certificate field`);
  if (hasStrayText(text)) throw Errors.certUnparsable('there is text outside the PEM blocks');
  if (certBlocks.length > MAX_CHAIN) throw Errors.certUnparsable(`the chain has more than ${MAX_CHAIN} certificates`);
  return certBlocks.map((block, i) => {
    try {
      return parseCached(block);
    } catch {
      throw Errors.certUnparsable(`certificate ${i + 1} of the chain is not valid DER/X.509`);
    }
  });
}

/**
 * Intermediates repeat across uploads (a handful of public CAs issue almost everything), so
 * parsed CA certificates are kept in a small LRU keyed by their DER; leaves are always parsed.
 */
const CA_CACHE_SIZE = 256;
const caCache = new Map<string, ParsedCertificate>();
function parseCached(block: PemBlock): ParsedCertificate {
  const key = block.der.toString('base64');
  const hit = caCache.get(key);
  if (hit) return hit;
  const parsed = parseCertificate(block);
  if (parsed.isCa) {
    if (caCache.size >= CA_CACHE_SIZE) caCache.delete(caCache.keys().next().value!);
    caCache.set(key, parsed);
  }
  return parsed;
}

/** Exactly one leaf (a non-CA certificate); returned first, the intermediates after it. */
export function orderLeafFirst(chain: ParsedCertificate[]): ParsedCertificate[] {
  const leaves = chain.filter((c) => !c.isCa);
  if (leaves.length > 1) throw Errors.multipleLeaves();
  if (leaves.length === 0) throw Errors.noLeaf();
  return [leaves[0]!, ...chain.filter((c) => c.isCa)];
}

export function parseKey(text: string | undefined): { key: ParsedPrivateKey; block: PemBlock } {
  if (text === undefined || normalisePemText(text) === '') throw Errors.keyUnparsable('no private key was sent');
  const blocks = pemBlocksOf(text, Errors.keyUnparsable);
  const encrypted = blocks.some((b) => b.type === 'ENCRYPTED PRIVATE KEY' || b.headers.some((h) => /^Proc-Type:.*ENCRYPTED/i.test(h)));
  if (encrypted) throw Errors.encryptedKey();
  // OpenSSL's `ecparam -genkey` writes an EC PARAMETERS block before the key: it is redundant, skip it.
  const keyBlocks = blocks.filter((b) => b.type !== 'EC PARAMETERS');
  if (keyBlocks.length !== 1) {
    throw Errors.keyUnparsable(keyBlocks.length === 0 ? 'no PEM private key block was found' : 'more than one key block was sent');
  }
  const block = keyBlocks[0] as PemBlock;
  try {
    return { key: parsePrivateKey(block), block };
  } catch (err) {
    throw Errors.keyUnparsable(err instanceof KeyRefusal ? err.message : `the ${block.type} block is not a valid key`);
  }
}

/** Every RSA handshake costs a private-key operation: 16384 bits is ~150× the work of 2048. */
export const MAX_RSA_BITS = 4096;

export function checkKeyStrength(leaf: ParsedCertificate): KeyType {
  if (leaf.keyType === 'rsa' && (leaf.keyBits ?? 0) > MAX_RSA_BITS) throw Errors.rsaKeyTooLarge(leaf.keyBits!, MAX_RSA_BITS);
  if (leaf.keyType === 'rsa' && (leaf.keyBits ?? 0) >= 2048) return 'rsa';
  if (leaf.keyType === 'ecdsa' && (leaf.curve === 'P-256' || leaf.curve === 'P-384')) return 'ecdsa';
  throw Errors.weakKey(leaf.keyDescription);
}

export function checkSignature(leaf: ParsedCertificate): void {
  if (!ACCEPTED_SIGNATURES.has(leaf.signature)) throw Errors.unsupportedSignature(leaf.signature);
}

export function checkKeyMatches(leaf: ParsedCertificate, key: ParsedPrivateKey): void {
  if (!privateKeyMatches(leaf, key)) throw Errors.keyMismatch();
}

export function checkValidity(leaf: ParsedCertificate, now: Date): void {
  if (leaf.notAfter <= now) throw Errors.certExpired(leaf.notAfter.toISOString());
  if (leaf.notBefore > now) throw Errors.certNotYetValid(leaf.notBefore.toISOString());
}

export function checkCoversHostname(leaf: ParsedCertificate, hostname: string): string[] {
  const hosts = certificateHosts(leaf.x509);
  if (!hosts.some((name) => nameCovers(name, hostname))) throw Errors.hostnameNotCovered(hostname);
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
      if (depth === 0 && selfSigned) throw Errors.untrustedChain('the certificate is self-signed');
      throw Errors.untrustedChain(`no trusted root or uploaded intermediate issued "${issuerName(current)}"`);
    }
    if (next.notAfter <= now) throw Errors.untrustedChain(`the intermediate "${issuerName(next.x509)}" has expired`);
    used.add(next);
    current = next.x509;
  }
  throw Errors.untrustedChain('the chain is too long');
}

/** All rules, in order; the first failure is the answer. */
export function validateCustomCertificate(
  input: { certificate: string | undefined; key: string | undefined; hostname: string },
  trust: TrustStore,
  now: Date,
): ValidatedCertificate {
  const chain = orderLeafFirst(parseChain(requireCertificateText(input.certificate)));
  const leaf = chain[0]!;
  const { key, block: keyBlock } = parseKey(input.key);
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
