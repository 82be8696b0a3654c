import type { AppContext } from '../../context.js';
import { auditOf } from '../../api/audit.js';
import { authorize, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { isoTimestamp } from '../../lib/clock.js';
import { validateMtlsUpload } from '../../pki/mtls.js';
import { PkiRefusal } from '../../pki/refusal.js';
import { mtlsUploadError } from './refusals.js';
import { isUniqueViolation } from '../../storage/connect.js';
import type { MtlsCertificatesTable } from '../../storage/schema.js';
import { accountsRepository } from '../accounts/repository.js';
import { mtlsCertificatesRepository } from './repository.js';
import { toMtlsCertificate } from './model.js';

/** Cloudflare's limit: five CAs per account (1489 for a sixth). */
export const CA_SLOTS = 5;

export class MtlsCertificatesService {
  constructor(private readonly ctx: AppContext) {}

  private async account(principal: Principal, accountId: string, permission: 'ssl:read' | 'ssl:edit') {
    authorize(principal, permission, { accountId });
    if (!(await accountsRepository.get(this.ctx.store.db, accountId))) throw Errors.accountNotFound();
  }

  private async existing(accountId: string, id: string): Promise<MtlsCertificatesTable> {
    const row = await mtlsCertificatesRepository.get(this.ctx.store.db, accountId, id.toLowerCase());
    if (!row) throw Errors.mtlsCertificateNotFound();
    return row;
  }

  async create(principal: Principal, accountId: string, body: { ca?: boolean; certificates?: string; name?: string; private_key?: string }) {
    await this.account(principal, accountId, 'ssl:edit');
    if (typeof body.ca !== 'boolean') throw Errors.invalidField('ca is required: true for a CA, false for a client or server certificate');
    if (typeof body.certificates !== 'string') throw Errors.mtlsInvalid('certificates is required: PEM text');
    const v = validated(() => validateMtlsUpload({ ca: body.ca as boolean, certificates: body.certificates as string, privateKey: body.private_key }, this.ctx.clock.now()));
    const id = this.ctx.ids.uuid();
    const now = isoTimestamp(this.ctx.clock.now());
    const sealed = v.keyPem !== undefined ? this.ctx.vault.encrypt(v.keyPem, id) : undefined;
    const row: MtlsCertificatesTable = {
      id,
      account_id: accountId,
      name: body.name ?? null,
      ca: body.ca ? 1 : 0,
      ca_slot: null,
      certificates: v.chainPem,
      issuer: v.issuer,
      signature: v.signature,
      serial_number: v.serialNumber,
      expires_on: v.expiresOn,
      uploaded_on: now,
      updated_at: now,
      key_ciphertext: sealed?.ciphertext ?? null,
      key_id: sealed?.keyId ?? null,
    };
    try {
      await this.ctx.store.write({ kind: 'mtls_certificate', zoneId: null, entityId: id }, async (trx) => {
        if (body.ca) {
          const used = new Set(await mtlsCertificatesRepository.usedCaSlots(trx, accountId));
          const free = [1, 2, 3, 4, 5].find((slot) => !used.has(slot));
          if (free === undefined) throw Errors.caQuota();
          row.ca_slot = free;
        }
        await mtlsCertificatesRepository.insert(trx, row);
      }, auditOf(principal));
    } catch (err) {
      // Two nodes taking the last free slot at once: the unique (account, slot) refuses one.
      if (isUniqueViolation(err)) throw Errors.caQuota();
      throw err;
    }
    return toMtlsCertificate(row);
  }

  async list(principal: Principal, accountId: string) {
    await this.account(principal, accountId, 'ssl:read');
    return (await mtlsCertificatesRepository.list(this.ctx.store.db, accountId)).map(toMtlsCertificate);
  }

  async get(principal: Principal, accountId: string, id: string) {
    await this.account(principal, accountId, 'ssl:read');
    return toMtlsCertificate(await this.existing(accountId, id));
  }

  /** Services using the certificate: hostname associations show up as `ssl`, one entry per zone. */
  async associations(principal: Principal, accountId: string, id: string) {
    await this.account(principal, accountId, 'ssl:read');
    const row = await this.existing(accountId, id);
    const zones = await mtlsCertificatesRepository.zonesUsing(this.ctx.store.db, row.id);
    return zones.map(() => ({ service: 'ssl', status: 'active' }));
  }

  /** A CA that still has hostname associations is refused (409) until its set is cleared. */
  async delete(principal: Principal, accountId: string, id: string) {
    await this.account(principal, accountId, 'ssl:edit');
    const row = await this.existing(accountId, id);
    await this.ctx.store.write({ kind: 'mtls_certificate', zoneId: null, entityId: row.id }, async (trx, tx) => {
      // Locked like an association PUT locks it, so a PUT cannot slip in between count and delete.
      if (!(await tx.lock('mtls_certificates', row.id))) throw Errors.mtlsCertificateNotFound();
      const inUse = await mtlsCertificatesRepository.associationCount(trx, row.id);
      if (inUse > 0) throw Errors.mtlsInUse(inUse);
      await mtlsCertificatesRepository.delete(trx, row.id);
    }, auditOf(principal));
    return toMtlsCertificate(row);
  }
}

function validated<T>(validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (err instanceof PkiRefusal) throw mtlsUploadError(err.refusal);
    throw err;
  }
}
