import { constants } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TicketKeyRing } from './ticket-keys.js';
import type { AppContext } from '../context.js';
import { openSslCipherList } from '../pki/ciphers.js';
import { packCertificatesRepository } from '../resources/custom-hostnames/pack-repository.js';
import { associationsRepository, managedCasRepository, MANAGED_CA } from '../resources/hostname-associations/repository.js';
import { customHostnamesRepository, fallbackOriginsRepository } from '../resources/custom-hostnames/repository.js';
import { mtlsCertificatesRepository } from '../resources/mtls-certificates/repository.js';
import type { SslSettings } from '../storage/schema.js';
import { nameCovers } from '../pki/hostname.js';

/**
 * The TLS configuration a connection is opened with. Equal `key`s mean the same client-certificate
 * rule (no client certificate, or the same CAs).
 */
export interface TlsProfile {
  /** Both certificates of the pack: OpenSSL picks ECDSA or RSA from the client's signature algorithms. */
  context: SecureContext;
  /** Associated with client-certificate CAs: ask for a certificate and require one that chains to them. */
  requestCert: boolean;
  key: string;
}

/** Everything the edge needs to serve one custom hostname, built on its first handshake. */
export interface Site {
  id: string;
  hostname: string;
  zoneId: string;
  /** `*.example.com`: serves every name one label below, each with its own associations. */
  wildcard: boolean;
  /** ALPN protocol list in wire format (built once; a string[] would be converted per handshake). */
  alpn: Buffer;
  origin: { host: string; servername: string } | null;
  /** The key types of its certificates ('ecdsa', 'rsa'): which one a handshake served, for the metrics. */
  keyTypes: string[];
  /**
   * What a connection depends on apart from client CAs (certificates, settings, origin): a
   * connection opened under another version must not serve new requests.
   */
  version: string;
  /** The TLS profile for a name this site serves (its own name, or one below its wildcard). */
  profileFor(servedName: string): TlsProfile;
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
    /** Shared session-ticket keys; without them, sessions are not resumed at all. */
    private readonly tickets?: TicketKeyRing,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): Promise<Site | null> {
    const hit = this.entries.get(id);
    this.ctx.metrics.tlsContexts.inc({ event: hit ? 'hit' : 'miss' });
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
    this.ctx.metrics.tlsContexts.inc({ event: 'build' });
    const db = this.ctx.store.db;
    const row = await customHostnamesRepository.getById(db, id);
    if (!row) return null;
    const certificates = await packCertificatesRepository.forHostname(db, id);
    if (certificates.length === 0) return null;
    const settings = JSON.parse(row.ssl_settings) as SslSettings;
    const minVersion = TLS_VERSIONS[settings.min_tls_version ?? '1.2'];
    const legacy = minVersion === 'TLSv1' || minVersion === 'TLSv1.1';
    let ciphers = settings.ciphers?.length ? openSslCipherList(settings.ciphers) : undefined;
    // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: a hostname that asks for them gets level 0.
    if (legacy) ciphers = `${ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
    const tlsOptions = {
      key: certificates.map((c) => this.ctx.vault.decrypt(c.key_ciphertext, c.key_id, c.id)),
      cert: certificates.map((c) => c.certificate),
      minVersion,
      maxVersion: settings.tls_1_3 === 'off' ? ('TLSv1.2' as const) : ('TLSv1.3' as const),
      ...(ciphers ? { ciphers } : {}),
      // Resumption off: no tickets (and no server-side session cache: Node keeps none).
      ...(this.tickets ? {} : { secureOptions: constants.SSL_OP_NO_TICKET }),
    };

    const wildcard = row.hostname.startsWith('*.');
    const fallback = await fallbackOriginsRepository.get(db, row.zone_id);
    const originHost = row.custom_origin_server ?? fallback?.origin ?? null;
    const sni = row.custom_origin_sni === ':request_host_header:' ? row.hostname : row.custom_origin_sni;
    const origin = originHost ? { host: originHost, servername: sni ?? originHost } : null;
    const version = JSON.stringify([row.hostname, row.ssl_settings, origin, certificates.map((c) => [c.id, c.fingerprint_sha256, c.uploaded_on])]);
    // One TLS profile per distinct client-CA rule: the hostname's own, and for a wildcard the
    // rules of the names below it that have associations of their own.
    const rules = await this.clientCaRules(row.zone_id, row.hostname, wildcard);
    const profiles = new Map<string, TlsProfile>();
    const profileOf = (rule: ClientCaRule): TlsProfile => {
      let profile = profiles.get(rule.key);
      if (!profile) {
        const context = createSecureContext({ ...tlsOptions, ...(rule.pems.length ? { ca: rule.pems } : {}) });
        // A session resumes only for this hostname, this configuration and this client-CA rule.
        this.tickets?.attach(context, `${id}|${version}|${rule.key}`);
        profile = { context, requestCert: rule.pems.length > 0, key: rule.key };
        profiles.set(rule.key, profile);
      }
      return profile;
    };
    const own = profileOf(rules.get(row.hostname) ?? NO_CLIENT_CAS);
    const byName = new Map<string, TlsProfile>();
    for (const [name, rule] of rules) if (name !== row.hostname) byName.set(name, profileOf(rule));

    return {
      id,
      hostname: row.hostname,
      zoneId: row.zone_id,
      wildcard,
      alpn: settings.http2 === 'on' ? ALPN_H2 : ALPN_HTTP1,
      origin,
      keyTypes: certificates.map((c) => c.key_type),
      version,
      profileFor: (servedName) => byName.get(servedName) ?? own,
    };
  }

  /**
   * The client-CA rule of each name this site serves that has associations: the hostname itself
   * and, for a wildcard, each name one label below it (its own associations replace the
   * wildcard's). A rule is the zone's managed CA when associated, and of the uploaded CAs the most
   * recently associated one (as Cloudflare documents).
   */
  private async clientCaRules(zoneId: string, hostname: string, wildcard: boolean): Promise<Map<string, ClientCaRule>> {
    const db = this.ctx.store.db;
    const rows = (await associationsRepository.candidatesFor(db, zoneId, hostname, wildcard)).filter((r) => r.hostname === hostname || nameCovers(hostname, r.hostname));
    const byName = new Map<string, { managed: boolean; uploaded?: string }>();
    for (const r of rows) {
      const entry = byName.get(r.hostname) ?? { managed: false };
      if (r.ca_id === MANAGED_CA) entry.managed = true;
      else entry.uploaded ??= r.ca_id; // rows come newest first
      byName.set(r.hostname, entry);
    }
    const pemCache = new Map<string, string | undefined>();
    const pemOf = async (caId: string) => {
      if (!pemCache.has(caId)) {
        const pem =
          caId === MANAGED_CA ? (await managedCasRepository.get(db, zoneId))?.certificate : await mtlsCertificatesRepository.chainOf(db, caId);
        pemCache.set(caId, pem);
      }
      return pemCache.get(caId);
    };
    const rules = new Map<string, ClientCaRule>();
    for (const [name, entry] of byName) {
      const ids = [...(entry.managed ? [MANAGED_CA] : []), ...(entry.uploaded ? [entry.uploaded] : [])];
      const pems: string[] = [];
      for (const caId of ids) {
        const pem = await pemOf(caId);
        if (pem) pems.push(pem);
      }
      rules.set(name, { key: ids.join('+'), pems });
    }
    return rules;
  }
}

interface ClientCaRule {
  key: string;
  pems: string[];
}

const NO_CLIENT_CAS: ClientCaRule = { key: '', pems: [] };
