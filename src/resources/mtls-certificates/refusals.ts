import { Errors, type ApiError } from '../../api/errors.js';
import type { ChainProblem, Refusal } from '../../pki/refusal.js';
import { privateKeyError } from '../../api/refusals.js';

/** An mTLS upload refused by pki/: 1821 with what was wrong; a bad private key as for custom certificates. */
export function mtlsUploadError(r: Refusal): ApiError {
  switch (r.rule) {
    case 'chain':
      return Errors.mtlsInvalid(chainProblem(r.chain));
    case 'ca_flag_missing':
      return Errors.mtlsInvalid('the first certificate is not a CA (basicConstraints CA:TRUE is missing): upload the CA that issues your client certificates');
    case 'ca_required':
      return Errors.mtlsInvalid('the first certificate is a CA; send ca: true to upload a CA');
    case 'ca_signature':
      return Errors.mtlsInvalid(`signature algorithm ${r.signature} is not supported (use SHA-1…SHA-512 with RSA or ECDSA)`);
    case 'ca_expired':
      return Errors.mtlsInvalid(`the certificate expired on ${r.notAfter}`);
    case 'chain_order':
      return Errors.mtlsInvalid(`certificate ${r.index + 2} did not issue certificate ${r.index + 1}: send the CA first, then its chain in order`);
    default:
      // The private key's rules answer as for custom certificates (1428, 1429); a
      // custom-certificate-only rule cannot come out of the mTLS rules.
      return privateKeyError(r) ?? Errors.mtlsInvalid(`refused (${r.rule})`);
  }
}

function chainProblem(c: ChainProblem): string {
  switch (c.problem) {
    case 'empty':
      return 'certificates is empty';
    case 'too_many_blocks':
      return `certificates: ${c.detail}`;
    case 'no_certificate':
      return c.otherBlock ? blockProblem(c.otherBlock) : 'certificates holds no PEM certificate';
    case 'other_block':
      return blockProblem(c.blockType);
    case 'stray_text':
      return 'certificates has text outside the PEM blocks';
    case 'too_long':
      return `certificates holds more than ${c.max} certificates`;
    case 'bad_der':
      return `certificate ${c.index + 1} is not valid DER/X.509`;
  }
}

function blockProblem(type: string): string {
  if (/PRIVATE KEY/.test(type)) return 'the certificates field holds a private key; send the key as private_key, or leave it out';
  if (/CERTIFICATE REQUEST/.test(type)) return 'the certificates field holds a certificate signing request (CSR), not a certificate';
  return `a ${type} block is not a certificate`;
}
