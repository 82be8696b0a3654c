import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../context.js';
import { PERMISSIONS, type Permission, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { isoTimestamp } from '../../lib/clock.js';
import { hashSecret } from '../../storage/crypto.js';
import { zonesRepository } from '../zones/repository.js';
import { tokensRepository } from './repository.js';

export interface NewToken {
  name: string;
  permissions: string[];
  zoneIds?: string[];
  accountId?: string;
}

/** 32 random bytes as base64url: 43 url-safe characters, shown once and stored only as a hash. */
export const generateTokenValue = (): string => randomBytes(32).toString('base64url');

export class TokensService {
  constructor(private readonly ctx: AppContext) {}

  async create(spec: NewToken): Promise<{ id: string; value: string }> {
    const unknown = spec.permissions.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
    if (spec.permissions.length === 0 || unknown.length > 0) {
      throw new Error(`permissions must be some of ${PERMISSIONS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
    }
    const db = this.ctx.store.db;
    let accountId = spec.accountId ?? this.ctx.defaultAccountId;
    if (spec.zoneIds?.length) {
      const zones = await Promise.all(spec.zoneIds.map((id) => zonesRepository.get(db, id)));
      const missing = spec.zoneIds.filter((_, i) => !zones[i]);
      if (missing.length) throw new Error(`unknown zone ${missing.join(', ')}`);
      const accounts = new Set(zones.map((z) => z!.account_id));
      if (accounts.size > 1) throw new Error('all zones of one token must belong to one account');
      accountId = [...accounts][0]!;
    }
    const value = generateTokenValue();
    const id = this.ctx.ids.tag();
    await tokensRepository.insert(db, {
      id,
      name: spec.name,
      token_hash: hashSecret(value),
      account_id: accountId,
      zone_ids: spec.zoneIds?.length ? JSON.stringify(spec.zoneIds) : null,
      permissions: JSON.stringify([...new Set(spec.permissions)] as Permission[]),
      status: 'active',
      created_on: isoTimestamp(this.ctx.clock.now()),
      expires_on: null,
    });
    return { id, value };
  }

  /** `GET /user/tokens/verify`: only meaningful for token callers. */
  verify(principal: Principal) {
    if (principal.tokenId === null) throw Errors.forbidden();
    return { id: principal.tokenId, status: 'active' as const };
  }
}
