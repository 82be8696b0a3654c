import type { AppContext } from '../../context.js';
import { isoTimestamp } from '../../lib/clock.js';
import { validateCustomCertificate, type ValidatedCertificate } from '../../pki/validate.js';
import { Errors } from '../../api/errors.js';
import { PkiRefusal } from '../../pki/refusal.js';
import { customCertificateError } from './refusals.js';
import type { CustomHostnamesTable, Db } from '../../storage/schema.js';
import type { CertificatePair } from './input.js';
import { packCertificatesRepository, type PackCertificateRow } from './pack-repository.js';

/** A certificate and key that passed every rule, ready to be stored under a certificate id. */
export type CertificateUpload = ValidatedCertificate;

export function validateUpload(
  ctx: Pick<AppContext, 'trust' | 'clock'>,
  pair: { custom_certificate?: string; custom_key?: string },
  hostname: string,
): CertificateUpload {
  try {
    return validateCustomCertificate({ certificate: pair.custom_certificate, key: pair.custom_key, hostname }, ctx.trust, ctx.clock.now());
  } catch (err) {
    if (err instanceof PkiRefusal) throw customCertificateError(err.refusal);
    throw err;
  }
}

/** The stored row: public fields in the clear, the private key sealed with the row id as AAD. */
export function certificateRow(
  ctx: Pick<AppContext, 'vault' | 'clock'>,
  upload: CertificateUpload,
  ids: { id: string; packId: string; customHostnameId: string },
): PackCertificateRow {
  const sealed = ctx.vault.encrypt(upload.keyPem, ids.id);
  return {
    id: ids.id,
    pack_id: ids.packId,
    custom_hostname_id: ids.customHostnameId,
    key_type: upload.keyType,
    certificate: upload.chainPem,
    key_ciphertext: sealed.ciphertext,
    key_id: sealed.keyId,
    issuer: upload.issuer,
    serial_number: upload.serialNumber,
    signature: upload.signature,
    expires_on: upload.expiresOn,
    issued_on: upload.issuedOn,
    uploaded_on: isoTimestamp(ctx.clock.now()),
    fingerprint_sha256: upload.fingerprintSha256,
    hosts: JSON.stringify(upload.hosts),
  };
}

/** Validates the pairs of a bundle (all rules, then "one per key type") before any write. */
export function validatePairs(ctx: Pick<AppContext, 'trust' | 'clock'>, pairs: CertificatePair[], hostname: string): CertificateUpload[] {
  const uploads = pairs.map((pair) => validateUpload(ctx, pair, hostname));
  if (uploads.length === 2 && uploads[0]!.keyType === uploads[1]!.keyType) {
    throw Errors.duplicateKeyType(uploads[0]!.keyType.toUpperCase());
  }
  return uploads;
}

/**
 * validatePairs on the API's validation threads when it has them (validation-pool.ts), else
 * here: the same rules, the same refusals, judged at this request's instant.
 */
export async function validateUploads(ctx: Pick<AppContext, 'trust' | 'clock' | 'validation'>, pairs: CertificatePair[], hostname: string): Promise<CertificateUpload[]> {
  if (pairs.length === 0) return [];
  if (ctx.validation) return ctx.validation.validatePairs(pairs, hostname, ctx.clock.now());
  return validatePairs(ctx, pairs, hostname);
}

/**
 * Puts validated certificates into a hostname's pack, inside the caller's transaction: a key
 * type already present is replaced in its slot (the certificate keeps its id), a missing one is
 * added. The database's unique (pack_id, key_type) backs the "one per key type" rule.
 */
export async function putIntoPack(
  ctx: Pick<AppContext, 'ids' | 'vault' | 'clock'>,
  trx: Db,
  host: CustomHostnamesTable,
  uploads: CertificateUpload[],
  /** The pack as it is, when the caller knows it (a hostname created in this write has none). */
  known?: PackCertificateRow[],
): Promise<PackCertificateRow[]> {
  const current = known ?? (await packCertificatesRepository.publicForHostname(trx, host.id));
  const written: PackCertificateRow[] = [];
  for (const upload of uploads) {
    const slot = current.find((c) => c.key_type === upload.keyType);
    const id = slot?.id ?? ctx.ids.uuid();
    const row = certificateRow(ctx, upload, { id, packId: host.ssl_pack_id, customHostnameId: host.id });
    if (slot) await packCertificatesRepository.replace(trx, id, row);
    else await packCertificatesRepository.insert(trx, row);
    written.push(row);
  }
  return written;
}
