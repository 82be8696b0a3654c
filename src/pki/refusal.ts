/**
 * Why pki/ refused an upload, as data: each resource answers with its own Cloudflare code and
 * words (1426 and friends for custom certificates, 1821 for mTLS uploads). pki/ knows nothing of
 * HTTP; `detail` texts are fragments a resource may put into its message.
 */
export type ChainProblem =
  | { problem: 'empty' }
  | { problem: 'too_many_blocks'; detail: string }
  /** No CERTIFICATE block; `otherBlock` is the type of the first other block, if any. */
  | { problem: 'no_certificate'; otherBlock?: string }
  | { problem: 'other_block'; blockType: string }
  | { problem: 'stray_text' }
  | { problem: 'too_long'; max: number }
  /** Certificate `index` (0-based, in upload order) is not DER/X.509. */
  | { problem: 'bad_der'; index: number };

export type Refusal =
  | { rule: 'chain'; chain: ChainProblem }
  | { rule: 'key_unparsable'; detail: string }
  | { rule: 'key_encrypted' }
  | { rule: 'key_mismatch' }
  // Custom certificates (design §2.1)
  | { rule: 'multiple_leaves' }
  | { rule: 'no_leaf' }
  | { rule: 'rsa_key_too_large'; bits: number; max: number }
  | { rule: 'weak_key'; description: string }
  | { rule: 'unsupported_signature'; signature: string }
  | { rule: 'expired'; notAfter: string }
  | { rule: 'not_yet_valid'; notBefore: string }
  | { rule: 'hostname_not_covered'; hostname: string }
  | { rule: 'untrusted_chain'; detail: string }
  // mTLS uploads (design §2.2)
  | { rule: 'ca_required' }
  | { rule: 'ca_flag_missing' }
  | { rule: 'ca_signature'; signature: string }
  | { rule: 'ca_expired'; notAfter: string }
  /** Certificate `index + 1` did not issue certificate `index` (0-based). */
  | { rule: 'chain_order'; index: number };

export class PkiRefusal extends Error {
  constructor(readonly refusal: Refusal) {
    super(`upload refused: ${refusal.rule}`);
  }
}

export const refuse = (refusal: Refusal): PkiRefusal => new PkiRefusal(refusal);
