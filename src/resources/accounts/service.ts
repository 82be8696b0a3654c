import type { AppContext } from '../../context.js';
import { authorize, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { isoTimestamp } from '../../lib/clock.js';
import { accountsRepository } from './repository.js';
import { toAccount } from './model.js';

export class AccountsService {
  constructor(private readonly ctx: AppContext) {}

  /** The `default` account, created on first start. Returns its id and whether it was created now. */
  async ensureDefault(): Promise<{ id: string; created: boolean }> {
    const { store, ids, clock } = this.ctx;
    // No change recorded: accounts are nothing the edge serves.
    return store.write(null, async (trx) => {
      const existing = await accountsRepository.getByName(trx, 'default');
      if (existing) return { id: existing.id, created: false };
      const id = ids.tag();
      await accountsRepository.insert(trx, { id, name: 'default', type: 'standard', created_on: isoTimestamp(clock.now()) });
      return { id, created: true };
    });
  }

  /** A caller sees exactly one account: the one its credential belongs to. */
  async list(principal: Principal) {
    authorize(principal, 'account:read', { accountId: principal.accountId });
    const row = await accountsRepository.get(this.ctx.store.db, principal.accountId);
    return row ? [toAccount(row)] : [];
  }

  async get(principal: Principal, id: string) {
    const row = await accountsRepository.get(this.ctx.store.db, id);
    if (!row) throw Errors.accountNotFound();
    authorize(principal, 'account:read', { accountId: id });
    return toAccount(row);
  }
}
