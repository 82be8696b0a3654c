import type { MtlsCertificatesTable } from '../../storage/schema.js';

/** Row → the SDK's MTLSCertificate. The private key, if any, is never part of it. */
export function toMtlsCertificate(row: MtlsCertificatesTable) {
  return {
    id: row.id,
    name: row.name ?? '',
    issuer: row.issuer,
    signature: row.signature,
    serial_number: row.serial_number,
    ca: row.ca === 1,
    certificates: row.certificates,
    expires_on: row.expires_on,
    uploaded_on: row.uploaded_on,
    updated_at: row.updated_at,
    type: 'custom' as const,
  };
}
