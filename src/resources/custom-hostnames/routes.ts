import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { deleted, success } from '../../api/envelope.js';
import { Errors } from '../../api/errors.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Direction, PageQuery, TagParam, UuidParam } from '../../api/validate.js';
import { isUuid } from '../../lib/ids.js';
import type { CustomHostnamesService } from './service.js';
import type { HostnameBody } from './input.js';
import type { CustomHostnameFilter } from './repository.js';

const ZoneParams = Type.Object({ zone_id: TagParam });
const HostnameParams = Type.Object({ zone_id: TagParam, custom_hostname_id: UuidParam });

const OptionalText = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const Pair = Type.Object({ custom_certificate: Type.String(), custom_key: Type.String() });

/** JSON types only; value rules and their Cloudflare codes are in input.ts. */
const HostnameBodySchema = Type.Object({
  hostname: Type.Optional(Type.Unknown()),
  custom_metadata: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  custom_origin_server: OptionalText,
  custom_origin_sni: OptionalText,
  ssl: Type.Optional(
    Type.Object({
      method: Type.Optional(Type.String()),
      type: Type.Optional(Type.String()),
      bundle_method: Type.Optional(Type.String()),
      certificate_authority: Type.Optional(Type.String()),
      cloudflare_branding: Type.Optional(Type.Boolean()),
      wildcard: Type.Optional(Type.Boolean()),
      custom_csr_id: Type.Optional(Type.String()),
      custom_certificate: Type.Optional(Type.String()),
      custom_key: Type.Optional(Type.String()),
      custom_cert_bundle: Type.Optional(Type.Array(Pair)),
      settings: Type.Optional(Type.Object({})),
    }),
  ),
});

interface ListQuery {
  page?: number;
  per_page?: number;
  id?: string;
  hostname?: string;
  'hostname.exact'?: string;
  'hostname.contain'?: string;
  'hostname.startsWith'?: string;
  ssl?: number;
  ssl_status?: string;
  hostname_status?: string;
  wildcard?: boolean;
  custom_origin_server?: string;
  certificate_authority?: string;
  order?: CustomHostnameFilter['order'];
  direction?: 'asc' | 'desc';
}

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
  const base = '/zones/:zone_id/custom_hostnames';

  app.post<{ Params: { zone_id: string }; Body: HostnameBody }>(
    base,
    { schema: { params: ZoneParams, body: HostnameBodySchema } },
    async (req, reply) => reply.status(201).send(success(await service.create(req.principal, req.params.zone_id, req.body ?? {}))),
  );

  app.get<{ Params: { zone_id: string }; Querystring: ListQuery }>(
    base,
    {
      schema: {
        params: ZoneParams,
        querystring: Type.Composite([
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
            order: Type.Optional(Type.Union(['ssl', 'ssl_status', 'hostname', 'created_at'].map((s) => Type.Literal(s)))),
            direction: Type.Optional(Direction),
          }),
        ]),
      },
    },
    async (req) => {
      const page = pageRequest(req.query);
      const { hostnames, total } = await service.list(req.principal, listFilter(req.params.zone_id, req.query), page);
      return success(hostnames, { result_info: resultInfo(page, hostnames.length, total) });
    },
  );

  // Static routes before `:custom_hostname_id` (the router prefers static segments anyway).
  app.put<{ Params: { zone_id: string }; Body: { origin?: unknown } }>(
    `${base}/fallback_origin`,
    { schema: { params: ZoneParams, body: Type.Object({ origin: Type.Optional(Type.Unknown()) }) } },
    async (req) => success(await service.putFallbackOrigin(req.principal, req.params.zone_id, req.body?.origin)),
  );
  app.get<{ Params: { zone_id: string } }>(`${base}/fallback_origin`, { schema: { params: ZoneParams } }, async (req) =>
    success(await service.getFallbackOrigin(req.principal, req.params.zone_id)),
  );
  app.delete<{ Params: { zone_id: string } }>(`${base}/fallback_origin`, { schema: { params: ZoneParams } }, async (req) =>
    success(await service.deleteFallbackOrigin(req.principal, req.params.zone_id)),
  );
  app.get<{ Params: { zone_id: string } }>(`${base}/quota`, { schema: { params: ZoneParams } }, async (req) =>
    success(await service.quota(req.principal, req.params.zone_id)),
  );

  app.get<{ Params: { zone_id: string; custom_hostname_id: string } }>(
    `${base}/:custom_hostname_id`,
    { schema: { params: HostnameParams } },
    async (req) => success(await service.get(req.principal, req.params.zone_id, req.params.custom_hostname_id)),
  );

  app.patch<{ Params: { zone_id: string; custom_hostname_id: string }; Body: HostnameBody }>(
    `${base}/:custom_hostname_id`,
    { schema: { params: HostnameParams, body: HostnameBodySchema } },
    async (req, reply) =>
      reply.status(202).send(success(await service.edit(req.principal, req.params.zone_id, req.params.custom_hostname_id, req.body ?? {}))),
  );

  app.delete<{ Params: { zone_id: string; custom_hostname_id: string } }>(
    `${base}/:custom_hostname_id`,
    { schema: { params: HostnameParams } },
    async (req) => deleted(await service.delete(req.principal, req.params.zone_id, req.params.custom_hostname_id)),
  );
}
