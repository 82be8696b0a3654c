import { Errors, type ApiError } from '../../api/errors.js';
import type { ChainProblem, Refusal } from '../../pki/refusal.js';
import { privateKeyError } from '../../api/refusals.js';

/** A custom certificate or key refused by pki/: Cloudflare's codes (1426–1447) and edgecert's (1810–1812). */
export function customCertificateError(r: Refusal): ApiError {
  const keyError = privateKeyError(r);
  if (keyError) return keyError;
  switch (r.rule) {
    case 'chain':
      return chainError(r.chain);
    case 'multiple_leaves':
      return Errors.multipleLeaves();
    case 'no_leaf':
      return Errors.noLeaf();
    case 'rsa_key_too_large':
      return Errors.rsaKeyTooLarge(r.bits, r.max);
    case 'weak_key':
      return Errors.weakKey(r.description);
    case 'unsupported_signature':
      return Errors.unsupportedSignature(r.signature);
    case 'expired':
      return Errors.certExpired(r.notAfter);
    case 'not_yet_valid':
      return Errors.certNotYetValid(r.notBefore);
    case 'hostname_not_covered':
      return Errors.hostnameNotCovered(r.hostname);
    case 'untrusted_chain':
      return Errors.untrustedChain(r.detail);
    default:
      // An mTLS-only rule cannot come out of the custom-certificate rules.
      return Errors.certUnparsable(`refused (${r.rule})`);
  }
}

function chainError(c: ChainProblem): ApiError {
  switch (c.problem) {
    case 'empty':
      return Errors.certEmpty();
    case 'too_many_blocks':
      return Errors.certUnparsable(c.detail);
    case 'no_certificate':
      return Errors.certUnparsable('no PEM CERTIFICATE block was found');
    case 'other_block':
      return Errors.certUnparsable(`a ${c.blockType} block is not allowed in the certificate field`);
    case 'stray_text':
      return Errors.certUnparsable('there is text outside the PEM blocks');
    case 'too_long':
      return Errors.certUnparsable(`the chain has more than ${c.max} certificates`);
    case 'bad_der':
      return Errors.certUnparsable(`certificate ${c.index + 1} of the chain is not valid DER/X.509`);
  }
}
