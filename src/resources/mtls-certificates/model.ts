import { Type, type Static } from '@sinclair/typebox';
import type { MtlsCertificatesTable } from '../../storage/schema.js';

/** The SDK's MTLSCertificate: the response contract of the mTLS routes. No private key, ever. */
export const MtlsCertificate = Type.Object({
  id: Type.String(),
  name: Type.String(),
  issuer: Type.String(),
  signature: Type.String(),
  serial_number: Type.String(),
  ca: Type.Boolean(),
  certificates: Type.String(),
  expires_on: Type.String(),
  uploaded_on: Type.String(),
  updated_at: Type.String(),
  type: Type.Literal('custom'),
});

/** A service using the certificate (`GET …/associations`). */
export const MtlsAssociation = Type.Object({ service: Type.String(), status: Type.String() });

/** Row → the SDK's MTLSCertificate. The private key, if any, is never part of it. */
export function toMtlsCertificate(row: MtlsCertificatesTable): Static<typeof MtlsCertificate> {
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
