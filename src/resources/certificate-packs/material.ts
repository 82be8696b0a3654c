import type { AppContext } from '../../context.js';
import { isoTimestamp } from '../../lib/clock.js';
import { validateCustomCertificate, type ValidatedCertificate } from '../../pki/validate.js';
import type { PackCertificatesTable } from '../../storage/schema.js';

/** A certificate and key that passed every rule, ready to be stored under a certificate id. */
export type CertificateUpload = ValidatedCertificate;

export function validateUpload(
  ctx: AppContext,
  pair: { custom_certificate?: string; custom_key?: string },
  hostname: string,
): CertificateUpload {
  return validateCustomCertificate(
    { certificate: pair.custom_certificate, key: pair.custom_key, hostname },
    ctx.trust,
    ctx.clock.now(),
  );
}

/** The stored row: public fields in the clear, the private key sealed with the row id as AAD. */
export function certificateRow(
  ctx: AppContext,
  upload: CertificateUpload,
  ids: { id: string; packId: string; customHostnameId: string },
): PackCertificatesTable {
  const sealed = ctx.vault.encrypt(upload.keyPem, ids.id);
  return {
    id: ids.id,
    pack_id: ids.packId,
    custom_hostname_id: ids.customHostnameId,
    key_type: upload.keyType,
    certificate: upload.chainPem,
    key_ciphertext: sealed.ciphertext,
    key_id: sealed.keyId,
    issuer: upload.issuer,
    serial_number: upload.serialNumber,
    signature: upload.signature,
    expires_on: upload.expiresOn,
    issued_on: upload.issuedOn,
    uploaded_on: isoTimestamp(ctx.clock.now()),
    fingerprint_sha256: upload.fingerprintSha256,
    hosts: JSON.stringify(upload.hosts),
  };
}
