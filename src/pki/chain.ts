import { hasStrayText, normalisePemText, splitPemBlocks, TooManyPemBlocks, type PemBlock } from './pem.js';
import { KeyRefusal, parseCertificate, parsePrivateKey, type ParsedCertificate, type ParsedPrivateKey } from './parse.js';
import { refuse, type ChainProblem } from './refusal.js';

/** The most certificates an upload's chain may hold (leaf or CA first, then its issuers). */
export const MAX_CHAIN = 10;

/**
 * Signature algorithms accepted, per kind of upload. Custom certificates follow what
 * Cloudflare's edge serves (no SHA-512 leaves); client-certificate CAs may be signed with any
 * SHA-1…SHA-512 RSA or ECDSA signature.
 */
export const SIGNATURES = {
  customCertificate: new Set(['SHA256WithRSA', 'SHA1WithRSA', 'ECDSAWithSHA256', 'ECDSAWithSHA384']),
  clientCa: new Set(['SHA1WithRSA', 'SHA256WithRSA', 'SHA384WithRSA', 'SHA512WithRSA', 'ECDSAWithSHA1', 'ECDSAWithSHA256', 'ECDSAWithSHA384', 'ECDSAWithSHA512']),
};

const chainRefusal = (chain: ChainProblem) => refuse({ rule: 'chain', chain });

/** The PEM blocks of an untrusted text (linear, capped: see pem.ts). */
function blocksOf(text: string, onTooMany: (detail: string) => Error) {
  try {
    return splitPemBlocks(text);
  } catch (err) {
    if (err instanceof TooManyPemBlocks) throw onTooMany(err.message);
    throw err;
  }
}

/**
 * The one PEM certificate-chain parser: only CERTIFICATE blocks, nothing outside them, at most
 * MAX_CHAIN, each valid X.509. Certificates come back in upload order. Throws PkiRefusal with
 * rule `chain`.
 */
export function parseCertificateChain(text: string | undefined): ParsedCertificate[] {
  if (text === undefined || normalisePemText(text) === '') throw chainRefusal({ problem: 'empty' });
  const blocks = blocksOf(text, (detail) => chainRefusal({ problem: 'too_many_blocks', detail }));
  const certBlocks = blocks.filter((b) => b.type === 'CERTIFICATE');
  const other = blocks.find((b) => b.type !== 'CERTIFICATE');
  if (certBlocks.length === 0) throw chainRefusal({ problem: 'no_certificate', otherBlock: other?.type });
  if (other) throw chainRefusal({ problem: 'other_block', blockType: other.type });
  if (hasStrayText(text)) throw chainRefusal({ problem: 'stray_text' });
  if (certBlocks.length > MAX_CHAIN) throw chainRefusal({ problem: 'too_long', max: MAX_CHAIN });
  return certBlocks.map((block, index) => {
    try {
      return parseCached(block);
    } catch {
      throw chainRefusal({ problem: 'bad_der', index });
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

/** The one private-key parser: exactly one unencrypted key block (an EC PARAMETERS block is skipped). */
export function parsePrivateKeyText(text: string | undefined): { key: ParsedPrivateKey; block: PemBlock } {
  if (text === undefined || normalisePemText(text) === '') throw refuse({ rule: 'key_unparsable', detail: 'no private key was sent' });
  const blocks = blocksOf(text, (detail) => refuse({ rule: 'key_unparsable', detail }));
  const encrypted = blocks.some((b) => b.type === 'ENCRYPTED PRIVATE KEY' || b.headers.some((h) => /^Proc-Type:.*ENCRYPTED/i.test(h)));
  if (encrypted) throw refuse({ rule: 'key_encrypted' });
  // OpenSSL's `ecparam -genkey` writes an EC PARAMETERS block before the key: it is redundant, skip it.
  const keyBlocks = blocks.filter((b) => b.type !== 'EC PARAMETERS');
  if (keyBlocks.length !== 1) {
    throw refuse({ rule: 'key_unparsable', detail: keyBlocks.length === 0 ? 'no PEM private key block was found' : 'more than one key block was sent' });
  }
  const block = keyBlocks[0] as PemBlock;
  try {
    return { key: parsePrivateKey(block), block };
  } catch (err) {
    throw refuse({ rule: 'key_unparsable', detail: err instanceof KeyRefusal ? err.message : `the ${block.type} block is not a valid key` });
  }
}
