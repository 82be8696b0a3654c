import { isoTimestamp } from '../lib/clock.js';
import { normalisePemText } from './pem.js';
import { decimalSerial } from './parse.js';
import { parseCertificateChain, parsePrivateKeyText, SIGNATURES } from './chain.js';
import { refuse } from './refusal.js';
import { checkKeyMatches } from './validate.js';

/**
 * Rules for `POST /accounts/{id}/mtls_certificates` (design §2.2): each refusal is a PkiRefusal
 * the resource answers with a 400 that says what was wrong with the upload.
 */

export interface ValidatedMtlsCertificate {
  chainPem: string;
  issuer: string;
  signature: string;
  serialNumber: string;
  expiresOn: string;
  /** Canonical PEM of the private key, when one was sent (encrypted before storage). */
  keyPem: string | undefined;
}

/** `C=US\nO=Example\nCN=x` → `CN=x,O=Example,C=US` (RFC 4514 order, as Cloudflare shows it). */
export function distinguishedName(multiline: string): string {
  return multiline.split('\n').filter(Boolean).reverse().join(',');
}

export function validateMtlsUpload(
  input: { ca: boolean; certificates: string; privateKey?: string },
  now: Date,
): ValidatedMtlsCertificate {
  const chain = parseCertificateChain(input.certificates);
  const first = chain[0]!;
  if (input.ca && !first.isCa) {
    throw refuse({ rule: 'ca_flag_missing' });
  }
  if (!input.ca && first.isCa) throw refuse({ rule: 'ca_required' });
  for (const cert of chain) {
    if (!SIGNATURES.clientCa.has(cert.signature)) throw refuse({ rule: 'ca_signature', signature: cert.signature });
  }
  if (first.notAfter <= now) throw refuse({ rule: 'ca_expired', notAfter: first.notAfter.toISOString() });
  // Any further certificates are the chain of the first, each issued by the next.
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!.x509;
    const parent = chain[i + 1]!;
    if (!parent.isCa || !child.checkIssued(parent.x509) || !child.verify(parent.x509.publicKey)) {
      throw refuse({ rule: 'chain_order', index: i });
    }
  }
  let keyPem: string | undefined;
  if (input.privateKey !== undefined && normalisePemText(input.privateKey) !== '') {
    const { key, block } = parsePrivateKeyText(input.privateKey);
    checkKeyMatches(first, key);
    keyPem = block.pem;
  }
  return {
    chainPem: chain.map((c) => c.pem).join(''),
    issuer: distinguishedName(first.x509.issuer),
    signature: first.signature,
    serialNumber: decimalSerial(first.x509),
    expiresOn: isoTimestamp(first.notAfter),
    keyPem,
  };
}
