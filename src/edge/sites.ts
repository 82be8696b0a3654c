import { createSecureContext, type SecureContext } from 'node:tls';
import type { AppContext } from '../context.js';
import { openSslCipherList } from '../pki/ciphers.js';
import { packCertificatesRepository } from '../resources/certificate-packs/repository.js';
import { MANAGED_CA } from '../resources/hostname-associations/repository.js';
import type { SslSettings } from '../resources/custom-hostnames/input.js';

/** Everything the edge needs to serve one custom hostname, built on its first handshake. */
export interface Site {
  id: string;
  hostname: string;
  zoneId: string;
  /** Both certificates of the pack: OpenSSL picks ECDSA or RSA from the client's signature algorithms. */
  context: SecureContext;
  /** ALPN protocol list in wire format (built once; a string[] would be converted per handshake). */
  alpn: Buffer;
  /** Associated with client-certificate CAs: ask for a certificate and require one that chains to them. */
  requestCert: boolean;
  origin: { host: string; servername: string } | null;
}

const wireAlpn = (protocols: string[]) => Buffer.concat(protocols.flatMap((p) => [Buffer.from([p.length]), Buffer.from(p)]));
const ALPN_H2 = wireAlpn(['h2', 'http/1.1']);
const ALPN_HTTP1 = wireAlpn(['http/1.1']);

const TLS_VERSIONS = { '1.0': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' } as const;

/**
 * Sites by custom hostname id, in an LRU of `capacity` entries. Concurrent first handshakes for
 * one hostname share one build (the cached value is the promise). `invalidate` drops an entry;
 * the next handshake builds it again from the database.
 */
export class SiteCache {
  private readonly entries = new Map<string, Promise<Site | null>>();
  builds = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly capacity: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): Promise<Site | null> {
    const hit = this.entries.get(id);
    if (hit) {
      // Refresh recency: Map keeps insertion order, so re-insert at the end.
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    const building = this.build(id).catch((err) => {
      this.ctx.log.error({ err, customHostnameId: id }, 'edge: could not build the TLS configuration');
      if (this.entries.get(id) === building) this.entries.delete(id);
      return null;
    });
    this.entries.set(id, building);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return building;
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops a cached site; true when there was one. */
  invalidate(id: string): boolean {
    return this.entries.delete(id);
  }

  /**
   * Builds a site again now, so that the first handshake after a change to a cached hostname
   * (a certificate rotation, say) does not pay for the build. A hostname that is gone or has no
   * certificate left is not kept.
   */
  refresh(id: string): Promise<Site | null> {
    this.entries.delete(id);
    const building = this.get(id);
    void building.then((site) => {
      if (!site && this.entries.get(id) === building) this.entries.delete(id);
    });
    return building;
  }

  /** Drops every cached site of a zone (fallback origin or association changes). */
  async invalidateZone(zoneId: string): Promise<void> {
    for (const [id, site] of [...this.entries]) {
      const s = await site;
      if (!s || s.zoneId === zoneId) this.entries.delete(id);
    }
  }

  private async build(id: string): Promise<Site | null> {
    this.builds++;
    const db = this.ctx.store.db;
    const row = await db.selectFrom('custom_hostnames').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const certificates = await packCertificatesRepository.forHostname(db, id);
    if (certificates.length === 0) return null;
    const settings = JSON.parse(row.ssl_settings) as SslSettings;
    const minVersion = TLS_VERSIONS[settings.min_tls_version ?? '1.2'];
    const legacy = minVersion === 'TLSv1' || minVersion === 'TLSv1.1';
    let ciphers = settings.ciphers?.length ? openSslCipherList(settings.ciphers) : undefined;
    // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: a hostname that asks for them gets level 0.
    if (legacy) ciphers = `${ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;

    const caPems = await this.clientCas(row.zone_id, row.hostname);
    const context = createSecureContext({
      key: certificates.map((c) => this.ctx.vault.decrypt(c.key_ciphertext, c.key_id, c.id)),
      cert: certificates.map((c) => c.certificate),
      minVersion,
      maxVersion: settings.tls_1_3 === 'off' ? 'TLSv1.2' : 'TLSv1.3',
      ...(ciphers ? { ciphers } : {}),
      ...(caPems.length ? { ca: caPems } : {}),
    });

    const fallback = await db.selectFrom('fallback_origins').select('origin').where('zone_id', '=', row.zone_id).executeTakeFirst();
    const originHost = row.custom_origin_server ?? fallback?.origin ?? null;
    const sni = row.custom_origin_sni === ':request_host_header:' ? row.hostname : row.custom_origin_sni;
    return {
      id,
      hostname: row.hostname,
      zoneId: row.zone_id,
      context,
      alpn: settings.http2 === 'on' ? ALPN_H2 : ALPN_HTTP1,
      requestCert: caPems.length > 0,
      origin: originHost ? { host: originHost, servername: sni ?? originHost } : null,
    };
  }

  /**
   * The CAs a hostname's clients must chain to: the zone's managed CA when associated, and of the
   * uploaded CAs the most recently associated one (as Cloudflare documents).
   */
  private async clientCas(zoneId: string, hostname: string): Promise<string[]> {
    const db = this.ctx.store.db;
    const rows = await db
      .selectFrom('hostname_associations')
      .select(['ca_id', 'association_seq'])
      .where('zone_id', '=', zoneId)
      .where('hostname', '=', hostname)
      .orderBy('association_seq', 'desc')
      .execute();
    const pems: string[] = [];
    if (rows.some((r) => r.ca_id === MANAGED_CA)) {
      const managed = await db.selectFrom('managed_cas').select('certificate').where('zone_id', '=', zoneId).executeTakeFirst();
      if (managed) pems.push(managed.certificate);
    }
    const uploaded = rows.find((r) => r.ca_id !== MANAGED_CA);
    if (uploaded) {
      const ca = await db.selectFrom('mtls_certificates').select('certificates').where('id', '=', uploaded.ca_id).executeTakeFirst();
      if (ca) pems.push(ca.certificates);
    }
    return pems;
  }
}
