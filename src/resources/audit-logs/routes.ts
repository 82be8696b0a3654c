import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { success } from '../../api/envelope.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Envelope } from '../../api/responses.js';
import { Errors } from '../../api/errors.js';
import { Direction, TagParam, PageQuery } from '../../api/validate.js';
import { AuditLog, seqOf } from './model.js';
import { isoTimestamp } from '../../lib/clock.js';
import type { AuditLogsService } from './service.js';

/** `since` / `before`: an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC), as Cloudflare takes them. */
function timeFilter(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw Errors.invalidField(`querystring.${name} must be a date (2026-12-01) or an RFC 3339 time (2026-12-01T10:00:00Z)`);
  return isoTimestamp(new Date(ms));
}

export function auditLogRoutes(app: FastifyInstance, service: AuditLogsService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  const Text = Type.Optional(Type.String({ maxLength: 320 }));
  routes.get(
    '/accounts/:account_id/audit_logs',
    {
      schema: {
        params: Type.Object({ account_id: TagParam }),
        querystring: Type.Composite([
          PageQuery,
          Type.Object({
            id: Text,
            since: Text,
            before: Text,
            direction: Type.Optional(Direction),
            'actor.email': Text,
            'actor.ip': Text,
            'action.type': Text,
            'zone.name': Text,
            export: Type.Optional(Type.Boolean()),
            hide_user_logs: Type.Optional(Type.Boolean()),
          }),
        ]),
        response: { 200: Envelope(Type.Array(AuditLog)) },
      },
    },
    async (req) => {
      const q = req.query;
      // Cloudflare's audit log pages are up to 1000 entries (100 by default).
      const page = pageRequest(q, { perPage: 100, min: 1, max: 1000 });
      const { entries, total } = await service.list(
        req.principal,
        {
          accountId: req.params.account_id,
          // An id that is not one of ours matches nothing.
          seq: q.id === undefined ? undefined : (seqOf(q.id) ?? -1),
          since: timeFilter('since', q.since),
          before: timeFilter('before', q.before),
          actorEmail: q['actor.email']?.toLowerCase(),
          actorIp: q['actor.ip'],
          actionType: q['action.type'],
          zoneName: q['zone.name']?.toLowerCase(),
          direction: q.direction ?? 'desc',
        },
        page,
      );
      return success(entries, { result_info: resultInfo(page, entries.length, total) });
    },
  );
}
