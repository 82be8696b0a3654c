import type { Db } from './schema.js';

/** A certificate with an expiry to watch: a custom hostname's (uploaded or issued), or an mTLS CA. */
export interface WatchedCertificate {
  kind: 'custom_hostname' | 'mtls_ca';
  certificateId: string;
  zone: string;
  hostname: string;
  keyType: string;
  expiresOn: string;
}

/**
 * Every certificate whose expiry matters, for the expiry metrics and alerts. Public fields only
 * (no key, no PEM). mTLS CAs have no zone or hostname: their name stands in the hostname.
 */
export async function watchedCertificates(db: Db): Promise<WatchedCertificate[]> {
  const packs = await db
    .selectFrom('pack_certificates')
    .innerJoin('custom_hostnames', 'custom_hostnames.id', 'pack_certificates.custom_hostname_id')
    .innerJoin('zones', 'zones.id', 'custom_hostnames.zone_id')
    .select(['pack_certificates.id', 'pack_certificates.key_type', 'pack_certificates.expires_on', 'custom_hostnames.hostname', 'zones.name as zone'])
    .execute();
  const cas = await db.selectFrom('mtls_certificates').select(['id', 'name', 'expires_on']).where('ca', '=', 1).execute();
  return [
    ...packs.map((p) => ({ kind: 'custom_hostname' as const, certificateId: p.id, zone: p.zone, hostname: p.hostname, keyType: p.key_type, expiresOn: p.expires_on })),
    ...cas.map((c) => ({ kind: 'mtls_ca' as const, certificateId: c.id, zone: '', hostname: c.name ?? '', keyType: '', expiresOn: c.expires_on })),
  ];
}
