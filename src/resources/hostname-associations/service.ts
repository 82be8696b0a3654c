import type { AppContext } from '../../context.js';
import { auditOf } from '../../api/audit.js';
import type { Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { isoTimestamp } from '../../lib/clock.js';
import { isUuid } from '../../lib/ids.js';
import { domainNameProblem, isAscii, normaliseHostname } from '../../pki/hostname.js';
import { createManagedCa } from '../../pki/managed-ca.js';
import type { Db, HostnameAssociationsTable, ManagedCasTable, ZonesTable } from '../../storage/schema.js';
import { customHostnamesRepository } from '../custom-hostnames/repository.js';
import type { ZonesService } from '../zones/service.js';
import { mtlsCertificatesRepository } from '../mtls-certificates/repository.js';
import { associationsRepository, managedCasRepository, MANAGED_CA } from './repository.js';

/**
 * `PUT/GET /zones/{zone_id}/certificate_authorities/hostname_associations` (design §2.2): the set
 * of hostnames whose clients must present a certificate issued by one CA — an uploaded mTLS CA,
 * or without an id the zone's managed CA.
 */
export class HostnameAssociationsService {
  constructor(
    private readonly ctx: AppContext,
    private readonly zones: ZonesService,
  ) {}

  /** The CA a request names: an uploaded CA of the zone's account, or the managed CA. */
  private async caIdFor(zone: ZonesTable, mtlsCertificateId: unknown, db: Db = this.ctx.store.db): Promise<string> {
    if (mtlsCertificateId === undefined) return MANAGED_CA;
    if (typeof mtlsCertificateId !== 'string' || mtlsCertificateId.length !== 36 || !isUuid(mtlsCertificateId)) {
      throw Errors.invalidField('mtls_certificate_id must be the 36-character UUID of a certificate uploaded to /accounts/{account_id}/mtls_certificates');
    }
    const id = mtlsCertificateId.toLowerCase();
    const row = await mtlsCertificatesRepository.get(db, zone.account_id, id);
    if (!row) throw Errors.mtlsCertificateNotFound(id);
    if (row.ca !== 1) throw Errors.associationNotCa();
    return id;
  }

  /**
   * Lowercased, de-duplicated, valid, and each one the zone's name, a subdomain of it, one of its
   * custom hostnames, or a name one of its wildcard custom hostnames serves (the edge enforces the
   * association for that name).
   */
  private async normalise(zone: ZonesTable, hostnames: unknown[]): Promise<string[]> {
    const out = new Set<string>();
    for (const value of hostnames) {
      if (typeof value !== 'string') throw Errors.invalidField('hostnames must be a list of strings');
      if (!isAscii(value)) throw Errors.nonAsciiHostname(`hostname "${value}"`);
      const hostname = normaliseHostname(value);
      const problem = domainNameProblem(hostname, { allowWildcard: true });
      if (problem) throw Errors.invalidHostname(`hostname "${value}"`, problem);
      out.add(hostname);
    }
    const outside = [...out].filter((h) => h !== zone.name && !h.endsWith(`.${zone.name}`));
    if (outside.length > 0) {
      const wildcardOf = (h: string) => (h.startsWith('*.') ? h : `*${h.slice(h.indexOf('.'))}`);
      const known = await customHostnamesRepository.namesInZone(this.ctx.store.db, zone.id, [...new Set([...outside, ...outside.map(wildcardOf)])]);
      const stranger = outside.find((h) => !known.has(h) && !known.has(wildcardOf(h)));
      if (stranger !== undefined) throw Errors.associationHostnameOutsideZone(stranger);
    }
    return [...out].sort();
  }

  /**
   * The zone's managed CA row when it has none yet: an ECDSA P-256 CA, key sealed at rest,
   * minted before the write (key generation is the costly part) and inserted in it.
   */
  private async newManagedCa(zone: ZonesTable): Promise<ManagedCasTable | undefined> {
    if (await managedCasRepository.get(this.ctx.store.db, zone.id)) return undefined;
    const now = this.ctx.clock.now();
    const ca = await createManagedCa(zone.name, now);
    const id = this.ctx.ids.uuid();
    const sealed = this.ctx.vault.encrypt(ca.keyPem, id);
    return {
      zone_id: zone.id,
      id,
      certificate: ca.certificatePem,
      key_ciphertext: sealed.ciphertext,
      key_id: sealed.keyId,
      expires_on: isoTimestamp(ca.expiresOn),
      created_at: isoTimestamp(now),
    };
  }

  async replace(principal: Principal, zoneId: string, body: { hostnames?: unknown[]; mtls_certificate_id?: unknown }) {
    const zone = await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    const caId = await this.caIdFor(zone, body.mtls_certificate_id);
    const hostnames = await this.normalise(zone, body.hostnames ?? []);
    const managedCa = caId === MANAGED_CA ? await this.newManagedCa(zone) : undefined;
    const now = isoTimestamp(this.ctx.clock.now());
    await this.ctx.store.write({ kind: 'hostname_association', zoneId: zone.id, entityId: caId }, async (trx, tx) => {
      // First writer wins: two nodes creating a zone's managed CA at once keep one.
      if (managedCa) await managedCasRepository.insertIfAbsent(trx, managedCa);
      if (caId !== MANAGED_CA) {
        // The CA row is locked like a DELETE locks it: a CA is never deleted under a new set.
        if (!(await tx.lock('mtls_certificates', caId))) throw Errors.mtlsCertificateNotFound(caId);
        await this.caIdFor(zone, caId, trx);
      }
      // New associations are ordered by the change that made them.
      const seq = await tx.sequence();
      // Hostnames that stay keep their association order ("most recently associated wins" at the edge).
      const before = new Map((await associationsRepository.forCa(trx, zone.id, caId)).map((r) => [r.hostname, r]));
      const rows: HostnameAssociationsTable[] = hostnames.map((hostname) => ({
        zone_id: zone.id,
        ca_id: caId,
        hostname,
        associated_at: before.get(hostname)?.associated_at ?? now,
        association_seq: Number(before.get(hostname)?.association_seq ?? seq),
      }));
      await associationsRepository.replace(trx, zone.id, caId, rows);
    }, auditOf(principal));
    return { hostnames };
  }

  async get(principal: Principal, zoneId: string, mtlsCertificateId: unknown) {
    const zone = await this.zones.zoneFor(principal, zoneId, ['ssl:read', 'zone:read']);
    const caId = await this.caIdFor(zone, mtlsCertificateId);
    const rows = await associationsRepository.forCa(this.ctx.store.db, zone.id, caId);
    return { hostnames: rows.map((r) => r.hostname) };
  }
}
