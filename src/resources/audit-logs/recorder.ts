import type { AppContext } from '../../context.js';
import { isoTimestamp } from '../../lib/clock.js';
import { ACTIONS, redact, resourceOf, type AuditScope } from '../../api/audit.js';
import { auditLogsRepository } from './repository.js';

/**
 * The audit log (Cloudflare's GET /accounts/{id}/audit_logs): every write made through the API
 * is recorded by the store's write hook, inside the write's own transaction, so an entry exists
 * exactly when the change committed. Reads are not recorded, nor writes outside a request
 * (ACME issuance, alerts, the CLI).
 */
export function recordApiWrites(ctx: Pick<AppContext, 'store' | 'clock' | 'bootstrap'>): void {
  ctx.store.hooks.beforeCommit = async (trx, changes, opts) => {
    const s = opts.audit as AuditScope | undefined;
    // One entry per request: its first write (a request's further writes belong to the same action).
    if (!s || s.recorded) return;
    s.recorded = true;
    const resource = resourceOf(s.route, s.params, changes[0]?.entityId);
    const zoneId = s.params.zone_id ?? changes[0]?.zoneId ?? null;
    const p = s.principal;
    await auditLogsRepository.insert(trx, {
      account_id: p.accountId,
      when: isoTimestamp(ctx.clock.now()),
      action_type: ACTIONS[s.method]!,
      actor_id: p.tokenId ?? (p.kind === 'api_key' ? `api_key:${ctx.bootstrap.email}` : p.kind),
      actor_email: p.kind === 'api_key' ? (ctx.bootstrap.email ?? null) : null,
      actor_ip: s.ip,
      actor_type: 'user',
      resource_type: resource.type,
      resource_id: resource.id,
      zone_id: zoneId,
      zone_name: zoneId ? (s.zoneName ?? (await auditLogsRepository.zoneName(trx, zoneId))) : null,
      old_value: s.old === undefined ? null : JSON.stringify(redact(s.old)),
      new_value: s.method === 'DELETE' || s.body === undefined ? null : JSON.stringify(redact(s.body)),
      metadata: JSON.stringify({ method: s.method, route: s.route, request_id: s.requestId }),
    });
  };
}
