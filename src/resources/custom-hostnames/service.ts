import type { AppContext } from '../../context.js';
import type { Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { auditOf, noteOldValue } from '../../api/audit.js';
import type { PageRequest } from '../../api/pagination.js';
import { isoTimestamp } from '../../lib/clock.js';
import { isUniqueViolation } from '../../storage/connect.js';
import type { CustomHostnamesTable, Db } from '../../storage/schema.js';
import { normaliseHostname } from '../../pki/hostname.js';
import type { ZonesService } from '../zones/service.js';
import { packCertificatesRepository, type PackCertificateRow } from './pack-repository.js';
import { putIntoPack, validatePairs, validateUploads, type CertificateUpload } from './pack.js';
import { checkMergedSettings, originProblem, parseCreate, parseEdit, type HostnameBody, type SslSettings } from './input.js';
import { toCustomHostname } from './model.js';
import { customHostnamesRepository, fallbackOriginsRepository, type CustomHostnameFilter } from './repository.js';
import { issuanceRepository } from './issuance-repository.js';

/** Hostnames per zone. There is no billing here; the cap only guards against runaway scripts. */
export const HOSTNAME_HARD_CAP = 1_000_000;

const READ = ['ssl:read', 'zone:read'] as const;

const WILDCARD_NOT_ISSUED = 'a wildcard hostname can only be validated through DNS (TXT), which edgecert does not do: upload its certificate (custom_cert_bundle)';

/** A create, validated and built: everything but the write. Pure CPU (certificate rules, key checks). */
export interface PreparedHostname {
  row: CustomHostnamesTable;
  uploads: CertificateUpload[];
}

/**
 * Checks a POST body as the API does (each refusal an ApiError with its Cloudflare code) and
 * builds the row; nothing is stored. Shared by the API and `edgecert import`.
 */
export function prepareHostname(ctx: Pick<AppContext, 'ids' | 'clock' | 'trust'>, zoneId: string, body: HostnameBody): PreparedHostname {
  const input = parseCreateBody(body);
  return preparedRow(ctx, zoneId, input, validatePairs(ctx, input.ssl.pairs, input.hostname));
}

/** The body's own checks, before any certificate work. */
function parseCreateBody(body: HostnameBody) {
  const input = parseCreate(body);
  checkMergedSettings(input.ssl.settings);
  return input;
}

/** The row of a create whose certificates passed (all certificate work happens before the transaction: a refusal stores nothing). */
function preparedRow(ctx: Pick<AppContext, 'ids' | 'clock'>, zoneId: string, input: ReturnType<typeof parseCreate>, uploads: CertificateUpload[]): PreparedHostname {
  const now = isoTimestamp(ctx.clock.now());
  // No certificate and HTTP validation asked for: edgecert obtains one (acme/issuer.ts), and
  // the hostname is pending until the CA has validated it.
  const httpValidation = uploads.length === 0 && input.ssl.method === 'http';
  // CAs validate wildcard names by DNS only, which edgecert does not do: said on the hostname.
  const issued = httpValidation && !input.hostname.startsWith('*.');
  const row: CustomHostnamesTable = {
    id: ctx.ids.uuid(),
    zone_id: zoneId,
    hostname: input.hostname,
    custom_metadata: input.customMetadata ?? null,
    custom_origin_server: input.customOriginServer ?? null,
    custom_origin_sni: input.customOriginSni ?? null,
    // edgecert does not verify ownership (there is no DNS to check): a hostname that brings its
    // certificate is active at once; one being issued once the CA's HTTP validation has passed.
    status: issued ? 'pending' : 'active',
    verification_token: ctx.ids.uuid(),
    http_token: ctx.ids.uuid(),
    created_at: now,
    updated_at: now,
    ssl_pack_id: ctx.ids.uuid(),
    ssl_method: input.ssl.method ?? null,
    ssl_type: input.ssl.type ?? 'dv',
    ssl_bundle_method: input.ssl.bundleMethod ?? 'ubiquitous',
    ssl_certificate_authority: input.ssl.certificateAuthority ?? null,
    ssl_custom_csr_id: input.ssl.customCsrId ?? null,
    ssl_cloudflare_branding: input.ssl.cloudflareBranding ? 1 : 0,
    ssl_wildcard: input.ssl.wildcard ? 1 : 0,
    ssl_settings: JSON.stringify(input.ssl.settings),
    ssl_status: uploads.length > 0 ? 'active' : 'pending_validation',
    ssl_validation_records: null,
    ssl_validation_errors: httpValidation && !issued ? JSON.stringify([{ message: WILDCARD_NOT_ISSUED }]) : null,
    verification_errors: null,
  };
  return { row, uploads };
}

/**
 * Inserts prepared hostnames and their packs inside the caller's write, after the zone's quota
 * check (the kept count: O(1)). The caller has checked that each hostname is new.
 */
export async function insertPrepared(ctx: Pick<AppContext, 'ids' | 'vault' | 'clock'>, trx: Db, prepared: PreparedHostname[]): Promise<PackCertificateRow[][]> {
  if (prepared.length === 0) return [];
  const zoneId = prepared[0]!.row.zone_id;
  if ((await customHostnamesRepository.countInZone(trx, zoneId)) + prepared.length > HOSTNAME_HARD_CAP) throw Errors.quotaExceeded(HOSTNAME_HARD_CAP);
  const packs: PackCertificateRow[][] = [];
  for (const { row, uploads } of prepared) {
    await customHostnamesRepository.insert(trx, row);
    // A new hostname's pack is empty: nothing to read.
    packs.push(await putIntoPack(ctx, trx, row, uploads, []));
    if (uploads.length === 0 && row.ssl_method === 'http' && !row.hostname.startsWith('*.')) {
      await issuanceRepository.arm(trx, { customHostnameId: row.id, zoneId: row.zone_id, hostname: row.hostname, certificateAuthority: row.ssl_certificate_authority, now: row.created_at });
    }
  }
  return packs;
}

export class CustomHostnamesService {
  constructor(
    private readonly ctx: AppContext,
    private readonly zones: ZonesService,
  ) {}

  private async present(row: CustomHostnamesTable) {
    return toCustomHostname(row, await packCertificatesRepository.publicForHostname(this.ctx.store.db, row.id));
  }

  private async existing(zoneId: string, id: string): Promise<CustomHostnamesTable> {
    const row = await customHostnamesRepository.get(this.ctx.store.db, zoneId, id.toLowerCase());
    if (!row) throw Errors.customHostnameNotFound();
    return row;
  }

  async create(principal: Principal, zoneId: string, body: HostnameBody) {
    await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    const input = parseCreateBody(body);
    const prepared = preparedRow(this.ctx, zoneId, input, await validateUploads(this.ctx, input.ssl.pairs, input.hostname));
    let pack: PackCertificateRow[];
    try {
      pack = await this.ctx.store.write({ kind: 'custom_hostname', zoneId, entityId: prepared.row.id }, async (trx) => {
        if (await customHostnamesRepository.getByHostname(trx, prepared.row.hostname)) throw Errors.duplicateHostname();
        return (await insertPrepared(this.ctx, trx, [prepared]))[0]!;
      }, auditOf(principal));
    } catch (err) {
      if (isUniqueViolation(err)) throw Errors.duplicateHostname();
      throw err;
    }
    // The answer from what was written (the whole chains uploaded), not read back.
    return toCustomHostname(prepared.row, pack);
  }

  async get(principal: Principal, zoneId: string, id: string) {
    await this.zones.zoneFor(principal, zoneId, [...READ]);
    return this.present(await this.existing(zoneId, id));
  }

  async list(principal: Principal, filter: CustomHostnameFilter, page: PageRequest) {
    await this.zones.zoneFor(principal, filter.zoneId, [...READ]);
    const { rows, total } = await customHostnamesRepository.list(this.ctx.store.db, filter, page, this.ctx.store.dialect);
    return { hostnames: rows.map(({ pack, ...row }) => toCustomHostname(row, pack)), total };
  }

  /** PATCH merges: fields not sent keep their values; settings merge one by one; certificates go into their key-type slot. */
  async edit(principal: Principal, zoneId: string, id: string, body: HostnameBody) {
    await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    const before = await this.existing(zoneId, id);
    noteOldValue(principal, toCustomHostname(before, []));
    const input = parseEdit(body, before.hostname);
    const settings: SslSettings = { ...(JSON.parse(before.ssl_settings) as SslSettings), ...input.ssl.settings };
    checkMergedSettings(settings);
    const uploads = await validateUploads(this.ctx, input.ssl.pairs, before.hostname);

    const now = isoTimestamp(this.ctx.clock.now());
    const patch: Partial<CustomHostnamesTable> = { updated_at: now, ssl_settings: JSON.stringify(settings) };
    // An uploaded certificate replaces an issued one: edgecert stops issuing and renewing.
    if (uploads.length > 0) Object.assign(patch, { ssl_status: 'active', status: 'active', ssl_validation_records: null, ssl_validation_errors: null, verification_errors: null });
    if (input.customMetadata !== undefined) patch.custom_metadata = input.customMetadata;
    if (input.customOriginServer !== undefined) patch.custom_origin_server = input.customOriginServer;
    if (input.customOriginSni !== undefined) patch.custom_origin_sni = input.customOriginSni;
    const ssl = input.ssl;
    if (ssl.method !== undefined) patch.ssl_method = ssl.method;
    if (ssl.type !== undefined) patch.ssl_type = ssl.type;
    if (ssl.bundleMethod !== undefined) patch.ssl_bundle_method = ssl.bundleMethod;
    if (ssl.certificateAuthority !== undefined) patch.ssl_certificate_authority = ssl.certificateAuthority;
    if (ssl.customCsrId !== undefined) patch.ssl_custom_csr_id = ssl.customCsrId;
    if (ssl.cloudflareBranding !== undefined) patch.ssl_cloudflare_branding = ssl.cloudflareBranding ? 1 : 0;
    if (ssl.wildcard !== undefined) patch.ssl_wildcard = ssl.wildcard ? 1 : 0;

    const change = { kind: uploads.length > 0 ? 'certificate_pack' : 'custom_hostname', zoneId, entityId: before.id } as const;
    const after = await this.ctx.store.write(change, async (trx, tx) => {
      if (!(await tx.lock('custom_hostnames', before.id))) throw Errors.customHostnameNotFound();
      // Re-read under the lock: the hostname may have been deleted since `existing` (another node).
      if (!(await customHostnamesRepository.get(trx, zoneId, before.id))) throw Errors.customHostnameNotFound();
      if (uploads.length > 0) await issuanceRepository.disarm(trx, before.id);
      else if (ssl.method === 'http') Object.assign(patch, await this.rearmIssuance(trx, before, ssl.certificateAuthority ?? before.ssl_certificate_authority, now));
      await customHostnamesRepository.update(trx, before.id, patch);
      const row = (await customHostnamesRepository.get(trx, zoneId, before.id))!;
      if (uploads.length > 0) await putIntoPack(this.ctx, trx, row, uploads);
      return row;
    }, auditOf(principal));
    return this.present(after);
  }

  /**
   * A PATCH with `ssl.method: "http"` and no certificate (re)starts issuance — Cloudflare's way
   * to retry a validation that failed or timed out — for a hostname whose certificates edgecert
   * issues, or that has none; one with uploaded certificates keeps them. Returns the status fields to set.
   */
  private async rearmIssuance(trx: Db, host: CustomHostnamesTable, certificateAuthority: string | null, now: string): Promise<Partial<CustomHostnamesTable>> {
    const managed = await issuanceRepository.get(trx, host.id);
    const certificates = await packCertificatesRepository.publicForHostname(trx, host.id);
    if (!managed && certificates.length > 0) return {};
    if (host.hostname.startsWith('*.')) return { ssl_validation_errors: JSON.stringify([{ message: WILDCARD_NOT_ISSUED }]) };
    await issuanceRepository.arm(trx, { customHostnameId: host.id, zoneId: host.zone_id, hostname: host.hostname, certificateAuthority, now });
    return certificates.length > 0 ? { ssl_validation_errors: null } : { ssl_status: 'pending_validation', status: 'pending', ssl_validation_errors: null, verification_errors: null };
  }

  async delete(principal: Principal, zoneId: string, id: string) {
    await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    const row = await this.existing(zoneId, id);
    noteOldValue(principal, toCustomHostname(row, []));
    await this.ctx.store.write({ kind: 'custom_hostname', zoneId, entityId: row.id }, (trx) => customHostnamesRepository.delete(trx, row.id), auditOf(principal));
    return row.id;
  }

  // --- fallback origin and quota ---

  private fallbackView(row: { origin: string; status: string; created_at: string; updated_at: string }) {
    return { origin: row.origin, status: row.status as 'active', errors: [] as string[], created_at: row.created_at, updated_at: row.updated_at };
  }

  async putFallbackOrigin(principal: Principal, zoneId: string, origin: unknown) {
    await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    if (typeof origin !== 'string' || origin === '') throw Errors.invalidFallbackOrigin('origin is required: the hostname requests are sent to');
    const problem = originProblem(origin);
    if (problem) throw Errors.invalidFallbackOrigin(`"${origin}": ${problem}`);
    const now = isoTimestamp(this.ctx.clock.now());
    const row = await this.ctx.store.write({ kind: 'fallback_origin', zoneId, entityId: zoneId }, async (trx) => {
      const before = await fallbackOriginsRepository.get(trx, zoneId);
      const next = { zone_id: zoneId, origin: normaliseHostname(origin), status: 'active', created_at: before?.created_at ?? now, updated_at: now };
      await fallbackOriginsRepository.upsert(trx, next);
      return next;
    }, auditOf(principal));
    return this.fallbackView(row);
  }

  async getFallbackOrigin(principal: Principal, zoneId: string) {
    await this.zones.zoneFor(principal, zoneId, [...READ]);
    const row = await fallbackOriginsRepository.get(this.ctx.store.db, zoneId);
    if (!row) throw Errors.fallbackOriginNotFound();
    return this.fallbackView(row);
  }

  async deleteFallbackOrigin(principal: Principal, zoneId: string) {
    await this.zones.zoneFor(principal, zoneId, 'ssl:edit');
    const row = await this.ctx.store.write({ kind: 'fallback_origin', zoneId, entityId: zoneId }, async (trx) => {
      const before = await fallbackOriginsRepository.get(trx, zoneId);
      if (!before) throw Errors.fallbackOriginNotFound();
      await fallbackOriginsRepository.delete(trx, zoneId);
      return before;
    }, auditOf(principal));
    return this.fallbackView(row);
  }

  async quota(principal: Principal, zoneId: string) {
    await this.zones.zoneFor(principal, zoneId, [...READ]);
    const used = await customHostnamesRepository.countInZone(this.ctx.store.db, zoneId);
    return { allocated: HOSTNAME_HARD_CAP, used, exceeded: used > HOSTNAME_HARD_CAP, hard_cap: HOSTNAME_HARD_CAP };
  }
}
