import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { success } from '../../api/envelope.js';
import { Envelope } from '../../api/responses.js';
import { TagParam } from '../../api/validate.js';
import type { HostnameAssociationsService } from './service.js';

const ZoneParams = Type.Object({ zone_id: TagParam });
const Associations = Envelope(Type.Object({ hostnames: Type.Array(Type.String()) }));

export function hostnameAssociationRoutes(app: FastifyInstance, service: HostnameAssociationsService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  const path = '/zones/:zone_id/certificate_authorities/hostname_associations';

  routes.put(
    path,
    {
      schema: {
        params: ZoneParams,
        // Element and id types are checked by the service, which answers each with its own code.
        body: Type.Object({
          hostnames: Type.Optional(Type.Union([Type.Array(Type.Unknown(), { maxItems: 10_000 }), Type.Null()])),
          mtls_certificate_id: Type.Optional(Type.Unknown()),
        }),
        response: { 200: Associations },
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

  routes.get(
    path,
    { schema: { params: ZoneParams, querystring: Type.Object({ mtls_certificate_id: Type.Optional(Type.String()) }), response: { 200: Associations } } },
    async (req) => success(await service.get(req.principal, req.params.zone_id, req.query.mtls_certificate_id)),
  );
}
