import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { deleted, success } from '../../api/envelope.js';
import { TagParam, UuidParam } from '../../api/validate.js';
import type { CertificatePacksService } from './service.js';

const PackCertificateParams = Type.Object({
  zone_id: TagParam,
  custom_hostname_id: UuidParam,
  certificate_pack_id: UuidParam,
  certificate_id: UuidParam,
});

interface Params {
  zone_id: string;
  custom_hostname_id: string;
  certificate_pack_id: string;
  certificate_id: string;
}

const address = (p: Params) => ({
  zoneId: p.zone_id,
  customHostnameId: p.custom_hostname_id,
  packId: p.certificate_pack_id,
  certificateId: p.certificate_id,
});

export function certificatePackRoutes(app: FastifyInstance, service: CertificatePacksService): void {
  const path = '/zones/:zone_id/custom_hostnames/:custom_hostname_id/certificate_pack/:certificate_pack_id/certificates/:certificate_id';

  app.put<{ Params: Params; Body: { custom_certificate?: string; custom_key?: string } }>(
    path,
    {
      schema: {
        params: PackCertificateParams,
        // Missing fields are refused by the certificate rules (1427 / 1428) with their own messages.
        body: Type.Object({ custom_certificate: Type.Optional(Type.String()), custom_key: Type.Optional(Type.String()) }),
      },
    },
    async (req) => success(await service.replace(req.principal, address(req.params), req.body ?? {})),
  );

  app.delete<{ Params: Params }>(path, { schema: { params: PackCertificateParams } }, async (req) =>
    deleted(await service.delete(req.principal, address(req.params))),
  );
}
