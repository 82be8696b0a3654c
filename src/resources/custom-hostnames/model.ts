import type { CustomHostnamesTable } from '../../storage/schema.js';
import type { PackCertificateView } from './pack-repository.js';


function certificateView(c: PackCertificateView) {
  return {
    id: c.id,
    key_type: c.key_type,
    issuer: c.issuer,
    serial_number: c.serial_number,
    signature: c.signature,
    expires_on: c.expires_on,
    issued_on: c.issued_on,
    uploaded_on: c.uploaded_on,
    fingerprint_sha256: c.fingerprint_sha256,
    hosts: JSON.parse(c.hosts) as string[],
  };
}

/**
 * Row + pack certificates → the SDK's custom hostname object. The top-level `ssl` certificate
 * fields describe the ECDSA certificate when there is one, else the RSA one. `custom_key` is
 * never part of the answer.
 */
export function toCustomHostname(row: CustomHostnamesTable, certificates: PackCertificateView[]) {
  const primary = certificates.find((c) => c.key_type === 'ecdsa') ?? certificates.find((c) => c.key_type === 'rsa');
  const ordered = [...certificates].sort((a, b) => (a.key_type === b.key_type ? 0 : a.key_type === 'ecdsa' ? -1 : 1));
  return {
    id: row.id,
    hostname: row.hostname,
    status: row.status as 'active',
    created_at: row.created_at,
    ...(row.custom_metadata !== null ? { custom_metadata: JSON.parse(row.custom_metadata) as Record<string, string> } : {}),
    ...(row.custom_origin_server !== null ? { custom_origin_server: row.custom_origin_server } : {}),
    ...(row.custom_origin_sni !== null ? { custom_origin_sni: row.custom_origin_sni } : {}),
    ownership_verification: {
      type: 'txt' as const,
      name: `_cf-custom-hostname.${row.hostname.replace(/^\*\./, '')}`,
      value: row.verification_token,
    },
    ownership_verification_http: {
      http_url: `http://${row.hostname.replace(/^\*\./, '')}/.well-known/cf-custom-hostname-challenge/${row.id}`,
      http_body: row.http_token,
    },
    verification_errors: [] as string[],
    ssl: {
      id: row.ssl_pack_id,
      type: (row.ssl_type ?? 'dv') as 'dv',
      ...(row.ssl_method !== null ? { method: row.ssl_method as 'http' | 'txt' | 'email' } : {}),
      status: row.ssl_status as 'active' | 'pending_validation',
      bundle_method: row.ssl_bundle_method as 'ubiquitous' | 'optimal' | 'force',
      wildcard: row.ssl_wildcard === 1,
      ...(row.ssl_certificate_authority !== null ? { certificate_authority: row.ssl_certificate_authority as 'google' } : {}),
      ...(row.ssl_custom_csr_id !== null ? { custom_csr_id: row.ssl_custom_csr_id } : {}),
      settings: JSON.parse(row.ssl_settings) as Record<string, unknown>,
      validation_records: [] as unknown[],
      validation_errors: [] as Array<{ message: string }>,
      ...(primary
        ? {
            custom_certificate: primary.certificate,
            issuer: primary.issuer,
            serial_number: primary.serial_number,
            signature: primary.signature,
            expires_on: primary.expires_on,
            uploaded_on: primary.uploaded_on,
            hosts: JSON.parse(primary.hosts) as string[],
          }
        : {}),
      certificates: ordered.map(certificateView),
    },
  };
}

export type CustomHostnameView = ReturnType<typeof toCustomHostname>;
