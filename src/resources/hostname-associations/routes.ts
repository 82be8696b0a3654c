import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { success } from '../../api/envelope.js';
import { TagParam } from '../../api/validate.js';
import type { HostnameAssociationsService } from './service.js';

const ZoneParams = Type.Object({ zone_id: TagParam });

export function hostnameAssociationRoutes(app: FastifyInstance, service: HostnameAssociationsService): void {
  const path = '/zones/:zone_id/certificate_authorities/hostname_associations';

  app.put<{ Params: { zone_id: string }; Body: { hostnames?: unknown[]; mtls_certificate_id?: unknown } }>(
    path,
    {
      schema: {
        params: ZoneParams,
        body: Type.Object({
          hostnames: Type.Optional(Type.Union([Type.Array(Type.Unknown(), { maxItems: 10_000 }), Type.Null()])),
          mtls_certificate_id: Type.Optional(Type.Unknown()),
        }),
      },
    },
    async (req) =>
      success(
        await service.replace(req.principal, req.params.zone_id, {
          hostnames: req.body?.hostnames ?? [],
          mtls_certificate_id: req.body?.mtls_certificate_id ?? undefined,
        }),
      ),
  );

  app.get<{ Params: { zone_id: string }; Querystring: { mtls_certificate_id?: string } }>(
    path,
    { schema: { params: ZoneParams, querystring: Type.Object({ mtls_certificate_id: Type.Optional(Type.String()) }) } },
    async (req) => success(await service.get(req.principal, req.params.zone_id, req.query.mtls_certificate_id)),
  );
}
