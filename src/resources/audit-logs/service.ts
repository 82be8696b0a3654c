import type { AppContext } from '../../context.js';
import { authorize, type Principal } from '../../api/auth.js';
import { Errors } from '../../api/errors.js';
import { accountsRepository } from '../accounts/repository.js';
import { auditLogsRepository, type AuditFilter } from './repository.js';
import { toAuditLog } from './model.js';

export class AuditLogsService {
  constructor(private readonly ctx: AppContext) {}

  /** An account's audit log; account-wide tokens only (a zone-scoped token sees other zones' entries otherwise). */
  async list(principal: Principal, filter: AuditFilter, page: { page: number; perPage: number }) {
    // Account-wide: a token limited to zones is refused (authorize), it would see other zones' entries.
    authorize(principal, 'account:read', { accountId: filter.accountId });
    if (!(await accountsRepository.get(this.ctx.store.db, filter.accountId))) throw Errors.accountNotFound();
    const { rows, total } = await auditLogsRepository.list(this.ctx.store.db, filter, { offset: (page.page - 1) * page.perPage, limit: page.perPage });
    return { entries: rows.map(toAuditLog), total };
  }
}
