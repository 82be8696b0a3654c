import { Type, type Static } from '@sinclair/typebox';
import type { CustomHostnamesTable } from '../../storage/schema.js';
import { StringEnum } from '../../api/responses.js';
import type { PackCertificateSummary, PackCertificateView } from './pack-repository.js';


const Strings = Type.Array(Type.String());
const Opt = Type.Optional;

/** One certificate of a pack, as the API shows it (never its key). */
export const PackCertificate = Type.Object({
  id: Type.String(),
  key_type: Type.String(),
  issuer: Type.String(),
  serial_number: Type.String(),
  signature: Type.String(),
  expires_on: Type.String(),
  issued_on: Type.String(),
  uploaded_on: Type.String(),
  fingerprint_sha256: Type.String(),
  hosts: Strings,
});

/** What the CA will fetch while a certificate is being issued (HTTP-01: `http_url` must answer `http_body`). */
export const ValidationRecord = Type.Object({ http_url: Opt(Type.String()), http_body: Opt(Type.String()), status: Opt(Type.String()), txt_name: Opt(Type.String()), txt_value: Opt(Type.String()) });
export type ValidationRecord = Static<typeof ValidationRecord>;

/** The SDK's custom hostname object: the response contract of the custom hostname and pack routes. */
export const CustomHostname = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  status: Type.String(),
  created_at: Type.String(),
  custom_metadata: Opt(Type.Record(Type.String(), Type.String())),
  custom_origin_server: Opt(Type.String()),
  custom_origin_sni: Opt(Type.String()),
  ownership_verification: Type.Object({ type: Type.Literal('txt'), name: Type.String(), value: Type.String() }),
  ownership_verification_http: Type.Object({ http_url: Type.String(), http_body: Type.String() }),
  verification_errors: Strings,
  ssl: Type.Object({
    id: Type.String(),
    type: Type.Literal('dv'),
    method: Opt(StringEnum('http', 'txt', 'email')),
    status: Type.String(),
    bundle_method: StringEnum('ubiquitous', 'optimal', 'force'),
    wildcard: Type.Boolean(),
    certificate_authority: Opt(Type.String()),
    custom_csr_id: Opt(Type.String()),
    settings: Type.Object({
      http2: Opt(Type.String()),
      tls_1_3: Opt(Type.String()),
      min_tls_version: Opt(Type.String()),
      ciphers: Opt(Strings),
      early_hints: Opt(Type.String()),
    }),
    validation_records: Type.Array(ValidationRecord),
    validation_errors: Type.Array(Type.Object({ message: Type.String() })),
    custom_certificate: Opt(Type.String()),
    issuer: Opt(Type.String()),
    serial_number: Opt(Type.String()),
    signature: Opt(Type.String()),
    expires_on: Opt(Type.String()),
    uploaded_on: Opt(Type.String()),
    hosts: Opt(Strings),
    certificates: Type.Array(PackCertificate),
  }),
});

export const FallbackOrigin = Type.Object({ origin: Type.String(), status: Type.String(), errors: Strings, created_at: Type.String(), updated_at: Type.String() });
export const Quota = Type.Object({ allocated: Type.Integer(), used: Type.Integer(), exceeded: Type.Boolean(), hard_cap: Type.Integer() });

function certificateView(c: PackCertificateSummary): Static<typeof PackCertificate> {
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
 * never part of the answer; `custom_certificate` only when the certificates carry their PEM.
 */
export function toCustomHostname(row: CustomHostnamesTable, certificates: Array<PackCertificateSummary & { certificate?: PackCertificateView['certificate'] }>): Static<typeof CustomHostname> {
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
    verification_errors: row.verification_errors ? (JSON.parse(row.verification_errors) as string[]) : [],
    ssl: {
      id: row.ssl_pack_id,
      type: (row.ssl_type ?? 'dv') as 'dv',
      ...(row.ssl_method !== null ? { method: row.ssl_method as 'http' | 'txt' | 'email' } : {}),
      status: row.ssl_status as 'active' | 'pending_validation',
      bundle_method: row.ssl_bundle_method as 'ubiquitous' | 'optimal' | 'force',
      wildcard: row.ssl_wildcard === 1,
      ...(row.ssl_certificate_authority !== null ? { certificate_authority: row.ssl_certificate_authority as 'google' } : {}),
      ...(row.ssl_custom_csr_id !== null ? { custom_csr_id: row.ssl_custom_csr_id } : {}),
      settings: JSON.parse(row.ssl_settings) as Static<typeof CustomHostname>['ssl']['settings'],
      validation_records: row.ssl_validation_records ? (JSON.parse(row.ssl_validation_records) as ValidationRecord[]) : [],
      validation_errors: row.ssl_validation_errors ? (JSON.parse(row.ssl_validation_errors) as Array<{ message: string }>) : [],
      ...(primary
        ? {
            // Absent on list pages, which read summaries without the PEM.
            ...(primary.certificate !== undefined ? { custom_certificate: primary.certificate } : {}),
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
