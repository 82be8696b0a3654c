import type { AppContext } from '../../context.js';
import { authorizeZone, mayTouchZone, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import type { CustomHostnamesTable, Db } from '../../storage/schema.js';
import type { WriteTx } from '../../storage/connect.js';
import { customHostnamesRepository } from '../custom-hostnames/repository.js';
import { toCustomHostname } from '../custom-hostnames/model.js';
import { certificateRow, validateUploads } from '../custom-hostnames/pack.js';
import { auditOf, noteOldValue } from '../../api/audit.js';
import { issuanceRepository } from '../custom-hostnames/issuance-repository.js';
import { packCertificatesRepository } from '../custom-hostnames/pack-repository.js';
import type { CertificatePair } from '../custom-hostnames/input.js';

interface PackAddress {
  zoneId: string;
  customHostnameId: string;
  packId: string;
  certificateId: string;
}

/** The two seed operations: replace one certificate of a pack, delete one (never the last). */
export class CertificatePacksService {
  constructor(private readonly ctx: AppContext) {}

  /**
   * The zone (for authorization) and the hostname in one query, outside any transaction: the
   * 404s come before the costly X.509 work, which needs the hostname's name.
   */
  private async hostnameOf(principal: Principal, a: PackAddress): Promise<CustomHostnamesTable> {
    if (!mayTouchZone(principal, a.zoneId)) throw Errors.forbidden();
    const found = await customHostnamesRepository.getWithZone(this.ctx.store.db, a.zoneId, a.customHostnameId.toLowerCase());
    if (!found) throw Errors.zoneNotFound();
    authorizeZone(principal, 'ssl:edit', { zoneId: a.zoneId, accountId: found.accountId });
    if (!found.hostname) throw Errors.customHostnameNotFound();
    if (found.hostname.ssl_pack_id !== a.packId.toLowerCase()) throw Errors.certificatePackNotFound();
    return found.hostname;
  }

  /**
   * Locks the hostname row and reads the pack inside the write: the invariants are checked
   * against whatever other requests committed before, never against an earlier read. (A
   * hostname's pack id never changes, so the row itself need not be read again.)
   */
  private async lockedPack(trx: Db, tx: WriteTx, host: CustomHostnamesTable, certificateId: string) {
    if (!(await tx.lock('custom_hostnames', host.id))) throw Errors.customHostnameNotFound();
    const certificates = await packCertificatesRepository.publicForHostname(trx, host.id);
    const certificate = certificates.find((c) => c.id === certificateId.toLowerCase());
    if (!certificate) throw Errors.certificateNotFound();
    return { certificates, certificate };
  }

  async replace(principal: Principal, a: PackAddress, body: CertificatePair) {
    const host = await this.hostnameOf(principal, a);
    const upload = (await validateUploads(this.ctx, [body], host.hostname))[0]!;
    return this.ctx.store.write({ kind: 'certificate_pack', zoneId: a.zoneId, entityId: host.id }, async (trx, tx) => {
      const locked = await this.lockedPack(trx, tx, host, a.certificateId);
      noteOldValue(principal, certificateSummary(locked.certificate));
      if (locked.certificate.key_type !== upload.keyType) {
        throw Errors.keyTypeMismatch(locked.certificate.key_type.toUpperCase(), upload.keyType.toUpperCase());
      }
      const row = certificateRow(this.ctx, upload, { id: locked.certificate.id, packId: host.ssl_pack_id, customHostnameId: host.id });
      await packCertificatesRepository.replace(trx, row.id, row);
      // An uploaded certificate in a pack edgecert issued: the pack is the customer's from now on (no renewals).
      await issuanceRepository.disarm(trx, host.id);
      return toCustomHostname(host, locked.certificates.map((c) => (c.id === row.id ? row : c)));
    }, auditOf(principal));
  }

  async delete(principal: Principal, a: PackAddress) {
    const host = await this.hostnameOf(principal, a);
    return this.ctx.store.write({ kind: 'certificate_pack', zoneId: a.zoneId, entityId: host.id }, async (trx, tx) => {
      const locked = await this.lockedPack(trx, tx, host, a.certificateId);
      noteOldValue(principal, certificateSummary(locked.certificate));
      if (locked.certificates.length <= 1) throw Errors.lastCertificate();
      await packCertificatesRepository.delete(trx, locked.certificate.id);
      return locked.certificate.id;
    }, auditOf(principal));
  }
}

/** A pack certificate as the audit log records it: its public facts. */
const certificateSummary = (c: { id: string; key_type: string; issuer: string; serial_number: string; expires_on: string; fingerprint_sha256: string }) => ({
  id: c.id,
  key_type: c.key_type,
  issuer: c.issuer,
  serial_number: c.serial_number,
  expires_on: c.expires_on,
  fingerprint_sha256: c.fingerprint_sha256,
});
