import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { success } from '../../api/envelope.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Direction, PageQuery, TagParam } from '../../api/validate.js';
import { Errors } from '../../api/errors.js';
import type { ZonesService } from './service.js';
import type { ZoneFilter } from './repository.js';

const ZoneParams = Type.Object({ zone_id: TagParam });
const NAME_OPS = ['equal', 'not_equal', 'starts_with', 'ends_with', 'contains'] as const;

interface ZoneListQuery {
  page?: number;
  per_page?: number;
  name?: string;
  status?: string;
  'account.id'?: string;
  order?: ZoneFilter['order'];
  direction?: 'asc' | 'desc';
  match?: 'any' | 'all';
}

export function zoneRoutes(app: FastifyInstance, service: ZonesService): void {
  app.post<{ Body: { name: string; account?: { id?: string }; type?: string } }>(
    '/zones',
    {
      schema: {
        body: Type.Object({
          name: Type.String({ maxLength: 253 }),
          account: Type.Optional(Type.Object({ id: Type.Optional(Type.String()) })),
          type: Type.Optional(Type.String()),
        }),
      },
    },
    async (req) => success(await service.create(req.principal, req.body)),
  );

  app.get<{ Querystring: ZoneListQuery }>(
    '/zones',
    {
      schema: {
        querystring: Type.Composite([
          PageQuery,
          Type.Object({
            name: Type.Optional(Type.String({ maxLength: 300 })),
            status: Type.Optional(Type.Union(['initializing', 'pending', 'active', 'moved'].map((s) => Type.Literal(s)))),
            'account.id': Type.Optional(Type.String()),
            order: Type.Optional(Type.Union(['name', 'status', 'account.id'].map((s) => Type.Literal(s)))),
            direction: Type.Optional(Direction),
            match: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('all')])),
          }),
        ]),
      },
    },
    async (req) => {
      const q = req.query;
      const page = pageRequest(q);
      let name: ZoneFilter['name'];
      if (q.name !== undefined) {
        // Cloudflare's operator prefixes: `starts_with:foo`, `contains:bar`; plain value = equal.
        const m = /^([a-z_]+):(.*)$/s.exec(q.name);
        const op = m && (NAME_OPS as readonly string[]).includes(m[1]!) ? (m[1] as (typeof NAME_OPS)[number]) : null;
        name = op ? { op, value: m![2]!.toLowerCase() } : { op: 'equal', value: q.name.toLowerCase() };
      }
      if (q.match === 'any') throw Errors.invalidField('match=any is not supported; filters always combine with all');
      const { zones, total } = await service.list(
        req.principal,
        { name, status: q.status, accountId: q['account.id'], order: q.order ?? 'name', direction: q.direction ?? 'asc' },
        page,
      );
      return success(zones, { result_info: resultInfo(page, zones.length, total) });
    },
  );

  app.get<{ Params: { zone_id: string } }>('/zones/:zone_id', { schema: { params: ZoneParams } }, async (req) =>
    success(await service.get(req.principal, req.params.zone_id)),
  );

  app.patch<{ Params: { zone_id: string }; Body: { paused?: boolean; type?: string } }>(
    '/zones/:zone_id',
    {
      schema: {
        params: ZoneParams,
        body: Type.Object({
          paused: Type.Optional(Type.Boolean()),
          type: Type.Optional(Type.String()),
          vanity_name_servers: Type.Optional(Type.Array(Type.String())),
        }),
      },
    },
    async (req) => success(await service.edit(req.principal, req.params.zone_id, req.body)),
  );

  app.delete<{ Params: { zone_id: string } }>('/zones/:zone_id', { schema: { params: ZoneParams } }, async (req) =>
    success(await service.delete(req.principal, req.params.zone_id)),
  );
}
