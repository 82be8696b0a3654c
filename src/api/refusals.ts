import { Errors, type ApiError } from './errors.js';
import type { Refusal } from '../pki/refusal.js';

/**
 * A private key refused by pki/: the same answers for custom certificates and mTLS uploads
 * (1428 unparsable or encrypted, 1429 not the certificate's key). Undefined for other rules.
 */
export function privateKeyError(r: Refusal): ApiError | undefined {
  if (r.rule === 'key_unparsable') return Errors.keyUnparsable(r.detail);
  if (r.rule === 'key_encrypted') return Errors.encryptedKey();
  if (r.rule === 'key_mismatch') return Errors.keyMismatch();
  return undefined;
}
