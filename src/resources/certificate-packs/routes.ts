import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { deleted, success } from '../../api/envelope.js';
import { DeletedEnvelope, Envelope } from '../../api/responses.js';
import { TagParam, UuidParam } from '../../api/validate.js';
import { CustomHostname } from '../custom-hostnames/model.js';
import type { CertificatePacksService } from './service.js';

const PackCertificateParams = Type.Object({
  zone_id: TagParam,
  custom_hostname_id: UuidParam,
  certificate_pack_id: UuidParam,
  certificate_id: UuidParam,
});

const address = (p: Static<typeof PackCertificateParams>) => ({
  zoneId: p.zone_id,
  customHostnameId: p.custom_hostname_id,
  packId: p.certificate_pack_id,
  certificateId: p.certificate_id,
});

export function certificatePackRoutes(app: FastifyInstance, service: CertificatePacksService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  const path = '/zones/:zone_id/custom_hostnames/:custom_hostname_id/certificate_pack/:certificate_pack_id/certificates/:certificate_id';

  routes.put(
    path,
    {
      schema: {
        params: PackCertificateParams,
        // Missing fields are refused by the certificate rules (1427 / 1428) with their own messages.
        body: Type.Object({ custom_certificate: Type.Optional(Type.String()), custom_key: Type.Optional(Type.String()) }),
        response: { 200: Envelope(CustomHostname) },
      },
    },
    async (req) => success(await service.replace(req.principal, address(req.params), req.body ?? {})),
  );

  routes.delete(path, { schema: { params: PackCertificateParams, response: { 200: DeletedEnvelope } } }, async (req) =>
    deleted(await service.delete(req.principal, address(req.params))),
  );
}
