import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { success } from '../../api/envelope.js';
import { TagParam, UuidParam } from '../../api/validate.js';
import type { MtlsCertificatesService } from './service.js';

const AccountParams = Type.Object({ account_id: TagParam });
const CertificateParams = Type.Object({ account_id: TagParam, mtls_certificate_id: UuidParam });
type Params = { account_id: string; mtls_certificate_id: string };

export function mtlsCertificateRoutes(app: FastifyInstance, service: MtlsCertificatesService): void {
  const base = '/accounts/:account_id/mtls_certificates';

  app.post<{ Params: { account_id: string }; Body: { ca?: boolean; certificates?: string; name?: string; private_key?: string } }>(
    base,
    {
      schema: {
        params: AccountParams,
        body: Type.Object({
          ca: Type.Optional(Type.Boolean()),
          certificates: Type.Optional(Type.String()),
          name: Type.Optional(Type.String({ maxLength: 255 })),
          private_key: Type.Optional(Type.String()),
        }),
      },
    },
    async (req) => success(await service.create(req.principal, req.params.account_id, req.body ?? {})),
  );

  app.get<{ Params: { account_id: string } }>(base, { schema: { params: AccountParams } }, async (req) => {
    const certificates = await service.list(req.principal, req.params.account_id);
    return success(certificates, {
      result_info: { page: 1, per_page: certificates.length, count: certificates.length, total_count: certificates.length, total_pages: 1 },
    });
  });

  app.get<{ Params: Params }>(`${base}/:mtls_certificate_id`, { schema: { params: CertificateParams } }, async (req) =>
    success(await service.get(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );

  app.get<{ Params: Params }>(`${base}/:mtls_certificate_id/associations`, { schema: { params: CertificateParams } }, async (req) =>
    success(await service.associations(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );

  app.delete<{ Params: Params }>(`${base}/:mtls_certificate_id`, { schema: { params: CertificateParams } }, async (req) =>
    success(await service.delete(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );
}
