import { createHash } from 'node:crypto';
import { splitPemBlocks } from '../pki/pem.js';

/**
 * A certificate chain as stored: the leaf's PEM, and its intermediates by fingerprint (their PEM
 * kept once in `ca_certificates`). Chains reaching storage were validated on upload, so every
 * block is a certificate.
 */
export interface SplitChain {
  leaf: string;
  /** Fingerprints of the intermediates, in chain order, space-separated ('' for none). */
  chain: string;
  intermediates: Array<{ fingerprint: string; pem: string }>;
}

export function splitChain(chainPem: string): SplitChain {
  const [leaf, ...rest] = splitPemBlocks(chainPem, Infinity);
  if (!leaf) return { leaf: chainPem, chain: '', intermediates: [] };
  const intermediates = rest.map((b) => ({ fingerprint: createHash('sha256').update(b.der).digest('hex'), pem: b.pem }));
  return { leaf: leaf.pem, chain: intermediates.map((i) => i.fingerprint).join(' '), intermediates };
}
