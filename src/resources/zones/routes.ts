import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Envelope } from '../../api/responses.js';
import { Zone } from './model.js';
import { success } from '../../api/envelope.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Direction, PageQuery, TagParam } from '../../api/validate.js';
import { Errors } from '../../api/errors.js';
import type { ZonesService } from './service.js';
import type { ZoneFilter } from './repository.js';

const ZoneParams = Type.Object({ zone_id: TagParam });
const NAME_OPS = ['equal', 'not_equal', 'starts_with', 'ends_with', 'contains'] as const;

const Literals = <T extends string>(...values: T[]) => Type.Union(values.map((v) => Type.Literal(v)));

const ZoneListQuery = Type.Composite([
  PageQuery,
  Type.Object({
    name: Type.Optional(Type.String({ maxLength: 300 })),
    status: Type.Optional(Literals('initializing', 'pending', 'active', 'moved')),
    'account.id': Type.Optional(Type.String()),
    order: Type.Optional(Literals('name', 'status', 'account.id')),
    direction: Type.Optional(Direction),
    match: Type.Optional(Literals('any', 'all')),
  }),
]);

export function zoneRoutes(app: FastifyInstance, service: ZonesService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  routes.post(
    '/zones',
    {
      schema: {
        body: Type.Object({
          name: Type.String({ maxLength: 253 }),
          account: Type.Optional(Type.Object({ id: Type.Optional(Type.String()) })),
          type: Type.Optional(Type.String()),
        }),
        response: { 200: Envelope(Zone) },
      },
    },
    async (req) => success(await service.create(req.principal, req.body)),
  );

  routes.get('/zones', { schema: { querystring: ZoneListQuery, response: { 200: Envelope(Type.Array(Zone)) } } }, async (req) => {
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
  });

  routes.get('/zones/:zone_id', { schema: { params: ZoneParams, response: { 200: Envelope(Zone) } } }, async (req) =>
    success(await service.get(req.principal, req.params.zone_id)),
  );

  routes.patch(
    '/zones/:zone_id',
    {
      schema: {
        params: ZoneParams,
        body: Type.Object({
          paused: Type.Optional(Type.Boolean()),
          type: Type.Optional(Type.String()),
          vanity_name_servers: Type.Optional(Type.Array(Type.String())),
        }),
        response: { 200: Envelope(Zone) },
      },
    },
    async (req) => success(await service.edit(req.principal, req.params.zone_id, req.body)),
  );

  routes.delete('/zones/:zone_id', { schema: { params: ZoneParams, response: { 200: Envelope(Type.Object({ id: Type.String() })) } } }, async (req) =>
    success(await service.delete(req.principal, req.params.zone_id)),
  );
}
