import type { AppContext } from '../../context.js';
import { auditOf, noteZone } from '../../api/audit.js';
import { authorize, authorizeZone, hasPermission, mayTouchZone, type Permission, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { type PageRequest } from '../../api/pagination.js';
import { isoTimestamp } from '../../lib/clock.js';
import { isUniqueViolation } from '../../storage/connect.js';
import type { ZonesTable } from '../../storage/schema.js';
import { domainNameProblem, isAscii, normaliseHostname } from '../../pki/hostname.js';
import { accountsRepository } from '../accounts/repository.js';
import { zonesRepository, type ZoneFilter } from './repository.js';
import { toZone } from './model.js';

const ZONE_TYPES = ['full', 'partial', 'secondary', 'internal'];

export class ZonesService {
  constructor(private readonly ctx: AppContext) {}

  /**
   * Loads a zone the caller may act on with `permission`; used by every zone-scoped resource.
   * Zone-scoped tokens are refused (403) outside their zones before any lookup.
   */
  async zoneFor(principal: Principal, zoneId: string, permission: Permission | Permission[]): Promise<ZonesTable> {
    if (!mayTouchZone(principal, zoneId)) throw Errors.forbidden();
    const zone = await zonesRepository.get(this.ctx.store.db, zoneId);
    if (!zone) throw Errors.zoneNotFound();
    authorizeZone(principal, permission, { zoneId, accountId: zone.account_id });
    noteZone(principal, zone.name);
    return zone;
  }

  private async present(row: ZonesTable) {
    const account = await accountsRepository.get(this.ctx.store.db, row.account_id);
    return toZone(row, { id: row.account_id, name: account?.name ?? '' });
  }

  async create(principal: Principal, body: { name: string; account?: { id?: string }; type?: string }) {
    const accountId = body.account?.id;
    if (accountId === undefined) throw Errors.invalidField('account.id is required');
    if (!/^[0-9a-f]{32}$/.test(accountId)) throw Errors.invalidField('account.id must be a 32-character hex identifier');
    authorize(principal, 'zone:edit', { accountId });
    if (principal.zoneIds !== null) throw Errors.forbidden(); // a zone-scoped token cannot create zones
    if (!isAscii(body.name)) throw Errors.invalidZoneName(body.name);
    const name = normaliseHostname(body.name);
    if (domainNameProblem(name) !== null) throw Errors.invalidZoneName(body.name);
    const type = body.type ?? 'full';
    if (!ZONE_TYPES.includes(type)) throw Errors.invalidField(`type must be one of ${ZONE_TYPES.join(', ')}`);
    const now = isoTimestamp(this.ctx.clock.now());
    const row: ZonesTable = {
      id: this.ctx.ids.tag(),
      account_id: accountId,
      name,
      // No nameserver delegation to wait for: a self-hosted zone is active at once.
      status: 'active',
      type,
      paused: 0,
      created_on: now,
      modified_on: now,
      activated_on: now,
    };
    try {
      await this.ctx.store.write({ kind: 'zone', zoneId: row.id, entityId: row.id }, async (trx) => {
        if (!(await accountsRepository.get(trx, accountId))) throw Errors.accountNotFound();
        if (await zonesRepository.getByName(trx, name)) throw Errors.zoneExists(name);
        await zonesRepository.insert(trx, row);
      }, auditOf(principal));
    } catch (err) {
      if (isUniqueViolation(err)) throw Errors.zoneExists(name);
      throw err;
    }
    return this.present(row);
  }

  async get(principal: Principal, zoneId: string) {
    return this.present(await this.zoneFor(principal, zoneId, ['zone:read', 'ssl:read']));
  }

  async list(principal: Principal, filter: Omit<ZoneFilter, 'zoneIds' | 'accountId'> & { accountId?: string }, page: PageRequest) {
    if (!hasPermission(principal, 'zone:read') && !hasPermission(principal, 'ssl:read')) throw Errors.forbidden();
    // A caller sees its own account's zones; filtering by another account simply matches nothing.
    if (filter.accountId !== undefined && filter.accountId !== principal.accountId) return { zones: [], total: 0 };
    const { rows, total } = await zonesRepository.list(
      this.ctx.store.db,
      { ...filter, accountId: principal.accountId, zoneIds: principal.zoneIds },
      page,
    );
    const zones = await Promise.all(rows.map((r) => this.present(r)));
    return { zones, total };
  }

  async edit(principal: Principal, zoneId: string, body: { paused?: boolean; type?: string }) {
    await this.zoneFor(principal, zoneId, 'zone:edit');
    if (body.type !== undefined && !ZONE_TYPES.includes(body.type)) {
      throw Errors.invalidField(`type must be one of ${ZONE_TYPES.join(', ')}`);
    }
    const patch: Partial<ZonesTable> = { modified_on: isoTimestamp(this.ctx.clock.now()) };
    if (body.paused !== undefined) patch.paused = body.paused ? 1 : 0;
    if (body.type !== undefined) patch.type = body.type;
    await this.ctx.store.write({ kind: 'zone', zoneId, entityId: zoneId }, (trx) => zonesRepository.update(trx, zoneId, patch), auditOf(principal));
    return this.get(principal, zoneId);
  }

  async delete(principal: Principal, zoneId: string) {
    await this.zoneFor(principal, zoneId, 'zone:edit');
    await this.ctx.store.write({ kind: 'zone', zoneId, entityId: zoneId }, (trx) => zonesRepository.delete(trx, zoneId), auditOf(principal));
    return { id: zoneId };
  }
}
