import { Errors } from '../api/errors.js';
import { isoTimestamp } from '../lib/clock.js';
import { hasStrayText, normalisePemText } from './pem.js';
import { decimalSerial, parseCertificate, type ParsedCertificate } from './parse.js';
import { checkKeyMatches, parseKey, pemBlocksOf } from './validate.js';

/**
 * Rules for `POST /accounts/{id}/mtls_certificates` (design §2.2): each refusal is a 400 that
 * says what was wrong with the upload.
 */

/** Signatures Cloudflare accepts on an uploaded CA. */
const CA_SIGNATURES = new Set([
  'SHA1WithRSA',
  'SHA256WithRSA',
  'SHA384WithRSA',
  'SHA512WithRSA',
  'ECDSAWithSHA1',
  'ECDSAWithSHA256',
  'ECDSAWithSHA384',
  'ECDSAWithSHA512',
]);
const MAX_CHAIN = 10;

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

function blockProblem(type: string): string {
  if (/PRIVATE KEY/.test(type)) return 'the certificates field holds a private key; send the key as private_key, or leave it out';
  if (/CERTIFICATE REQUEST/.test(type)) return 'the certificates field holds a certificate signing request (CSR), not a certificate';
  return `a ${type} block is not a certificate`;
}

export function validateMtlsUpload(
  input: { ca: boolean; certificates: string; privateKey?: string },
  now: Date,
): ValidatedMtlsCertificate {
  if (normalisePemText(input.certificates) === '') throw Errors.mtlsInvalid('certificates is empty');
  const blocks = pemBlocksOf(input.certificates, (why) => Errors.mtlsInvalid(`certificates: ${why}`));
  if (blocks.length === 0) throw Errors.mtlsInvalid('certificates holds no PEM certificate');
  const other = blocks.find((b) => b.type !== 'CERTIFICATE');
  if (other) throw Errors.mtlsInvalid(blockProblem(other.type));
  if (hasStrayText(input.certificates)) throw Errors.mtlsInvalid('certificates has text outside the PEM blocks');
  if (blocks.length > MAX_CHAIN) throw Errors.mtlsInvalid(`certificates holds more than ${MAX_CHAIN} certificates`);
  const chain: ParsedCertificate[] = blocks.map((block, i) => {
    try {
      return parseCertificate(block);
    } catch {
      throw Errors.mtlsInvalid(`certificate ${i + 1} is not valid DER/X.509`);
    }
  });
  const first = chain[0]!;
  if (input.ca && !first.isCa) {
    throw Errors.mtlsInvalid('the first certificate is not a CA (basicConstraints CA:TRUE is missing): upload the CA that issues your client certificates');
  }
  if (!input.ca && first.isCa) throw Errors.mtlsInvalid('the first certificate is a CA; send ca: true to upload a CA');
  for (const cert of chain) {
    if (!CA_SIGNATURES.has(cert.signature)) {
      throw Errors.mtlsInvalid(`signature algorithm ${cert.signature} is not supported (use SHA-1…SHA-512 with RSA or ECDSA)`);
    }
  }
  if (first.notAfter <= now) throw Errors.mtlsInvalid(`the certificate expired on ${first.notAfter.toISOString()}`);
  // Any further certificates are the chain of the first, each issued by the next.
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!.x509;
    const parent = chain[i + 1]!;
    if (!parent.isCa || !child.checkIssued(parent.x509) || !child.verify(parent.x509.publicKey)) {
      throw Errors.mtlsInvalid(`certificate ${i + 2} did not issue certificate ${i + 1}: send the CA first, then its chain in order`);
    }
  }
  let keyPem: string | undefined;
  if (input.privateKey !== undefined && normalisePemText(input.privateKey) !== '') {
    const { key, block } = parseKey(input.privateKey);
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
