import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DeletedEnvelope, Envelope } from '../../api/responses.js';
import { CustomHostname, FallbackOrigin, Quota } from './model.js';
import { deleted, success } from '../../api/envelope.js';
import { Errors } from '../../api/errors.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Direction, PageQuery, TagParam, UuidParam } from '../../api/validate.js';
import { isUuid } from '../../lib/ids.js';
import type { CustomHostnamesService } from './service.js';
import { HostnameBodySchema } from './input.js';
import type { CustomHostnameFilter } from './repository.js';

const ZoneParams = Type.Object({ zone_id: TagParam });
const HostnameParams = Type.Object({ zone_id: TagParam, custom_hostname_id: UuidParam });

const ListQuerySchema = Type.Composite([
  PageQuery,
  Type.Object({
    id: Type.Optional(Type.String()),
    hostname: Type.Optional(Type.String({ maxLength: 255 })),
    'hostname.exact': Type.Optional(Type.String({ maxLength: 255 })),
    'hostname.contain': Type.Optional(Type.String({ maxLength: 255 })),
    'hostname.startsWith': Type.Optional(Type.String({ maxLength: 255 })),
    ssl: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
    ssl_status: Type.Optional(Type.String()),
    hostname_status: Type.Optional(Type.String()),
    wildcard: Type.Optional(Type.Boolean()),
    custom_origin_server: Type.Optional(Type.String()),
    certificate_authority: Type.Optional(Type.String()),
    order: Type.Optional(Type.Union([Type.Literal('ssl'), Type.Literal('ssl_status'), Type.Literal('hostname'), Type.Literal('created_at')])),
    direction: Type.Optional(Direction),
  }),
]);
type ListQuery = Static<typeof ListQuerySchema>;

const HOSTNAME_FILTERS = ['hostname', 'hostname.exact', 'hostname.contain', 'hostname.startsWith'] as const;
const OTHER_FILTERS = ['ssl', 'ssl_status', 'hostname_status', 'wildcard', 'custom_origin_server', 'certificate_authority'] as const;

function listFilter(zoneId: string, q: ListQuery): CustomHostnameFilter {
  const filter: CustomHostnameFilter = { zoneId, order: q.order ?? 'ssl', direction: q.direction ?? 'asc' };
  const hostnameFilters = HOSTNAME_FILTERS.filter((k) => q[k] !== undefined);
  if (q.id !== undefined) {
    if (hostnameFilters.length > 0 || OTHER_FILTERS.some((k) => q[k] !== undefined)) throw Errors.idFilterExclusive();
    if (!isUuid(q.id)) throw Errors.invalidField('id must be a 36-character custom hostname identifier (UUID)');
    filter.id = q.id.toLowerCase();
    return filter;
  }
  if (hostnameFilters.length > 1) throw Errors.invalidHostnameFilter(`use only one of ${hostnameFilters.join(', ')}`);
  const key = hostnameFilters[0];
  if (key) {
    const value = q[key]!.trim().toLowerCase();
    if (value === '' || !/^[a-z0-9.*_-]+$/.test(value)) throw Errors.invalidHostnameFilter(`${key} "${q[key]}" is not part of a hostname`);
    filter.hostname = { op: key === 'hostname.contain' ? 'contain' : key === 'hostname.startsWith' ? 'startsWith' : 'exact', value };
  }
  const sslStatus: string[] = [];
  if (q.ssl !== undefined) sslStatus.push(q.ssl === 1 ? 'active' : 'pending_validation');
  if (q.ssl_status !== undefined) sslStatus.push(q.ssl_status);
  if (sslStatus.length) filter.sslStatus = sslStatus;
  if (q.hostname_status !== undefined) filter.hostnameStatus = q.hostname_status;
  if (q.wildcard !== undefined) filter.wildcard = q.wildcard;
  if (q.custom_origin_server !== undefined) filter.customOriginServer = q.custom_origin_server.toLowerCase();
  if (q.certificate_authority !== undefined) filter.certificateAuthority = q.certificate_authority;
  return filter;
}

export function customHostnameRoutes(app: FastifyInstance, service: CustomHostnamesService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/zones/:zone_id/custom_hostnames';

  routes.post(
    base,
    { schema: { params: ZoneParams, body: HostnameBodySchema, response: { 201: Envelope(CustomHostname) } } },
    async (req, reply) => reply.status(201).send(success(await service.create(req.principal, req.params.zone_id, req.body ?? {}))),
  );

  routes.get(
    base,
    { schema: { params: ZoneParams, querystring: ListQuerySchema, response: { 200: Envelope(Type.Array(CustomHostname)) } } },
    async (req) => {
      const page = pageRequest(req.query);
      const { hostnames, total } = await service.list(req.principal, listFilter(req.params.zone_id, req.query), page);
      return success(hostnames, { result_info: resultInfo(page, hostnames.length, total) });
    },
  );

  // Static routes before `:custom_hostname_id` (the router prefers static segments anyway).
  routes.put(
    `${base}/fallback_origin`,
    { schema: { params: ZoneParams, body: Type.Object({ origin: Type.Optional(Type.Unknown()) }), response: { 200: Envelope(FallbackOrigin) } } },
    async (req) => success(await service.putFallbackOrigin(req.principal, req.params.zone_id, req.body?.origin)),
  );
  routes.get(`${base}/fallback_origin`, { schema: { params: ZoneParams, response: { 200: Envelope(FallbackOrigin) } } }, async (req) =>
    success(await service.getFallbackOrigin(req.principal, req.params.zone_id)),
  );
  routes.delete(`${base}/fallback_origin`, { schema: { params: ZoneParams, response: { 200: Envelope(FallbackOrigin) } } }, async (req) =>
    success(await service.deleteFallbackOrigin(req.principal, req.params.zone_id)),
  );
  routes.get(`${base}/quota`, { schema: { params: ZoneParams, response: { 200: Envelope(Quota) } } }, async (req) =>
    success(await service.quota(req.principal, req.params.zone_id)),
  );

  routes.get(`${base}/:custom_hostname_id`, { schema: { params: HostnameParams, response: { 200: Envelope(CustomHostname) } } }, async (req) =>
    success(await service.get(req.principal, req.params.zone_id, req.params.custom_hostname_id)),
  );

  routes.patch(
    `${base}/:custom_hostname_id`,
    { schema: { params: HostnameParams, body: HostnameBodySchema, response: { 202: Envelope(CustomHostname) } } },
    async (req, reply) =>
      reply.status(202).send(success(await service.edit(req.principal, req.params.zone_id, req.params.custom_hostname_id, req.body ?? {}))),
  );

  routes.delete(`${base}/:custom_hostname_id`, { schema: { params: HostnameParams, response: { 200: DeletedEnvelope } } }, async (req) =>
    deleted(await service.delete(req.principal, req.params.zone_id, req.params.custom_hostname_id)),
  );
}
