import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { success } from '../../api/envelope.js';
import { Envelope } from '../../api/responses.js';
import { TagParam, UuidParam } from '../../api/validate.js';
import { MtlsAssociation, MtlsCertificate } from './model.js';
import type { MtlsCertificatesService } from './service.js';

const AccountParams = Type.Object({ account_id: TagParam });
const CertificateParams = Type.Object({ account_id: TagParam, mtls_certificate_id: UuidParam });

export function mtlsCertificateRoutes(app: FastifyInstance, service: MtlsCertificatesService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/accounts/:account_id/mtls_certificates';

  routes.post(
    base,
    {
      schema: {
        params: AccountParams,
        // `ca` and `certificates` are required; the service refuses their absence with its own codes.
        body: Type.Object({
          ca: Type.Optional(Type.Boolean()),
          certificates: Type.Optional(Type.String()),
          name: Type.Optional(Type.String({ maxLength: 255 })),
          private_key: Type.Optional(Type.String()),
        }),
        response: { 200: Envelope(MtlsCertificate) },
      },
    },
    async (req) => success(await service.create(req.principal, req.params.account_id, req.body ?? {})),
  );

  routes.get(base, { schema: { params: AccountParams, response: { 200: Envelope(Type.Array(MtlsCertificate)) } } }, async (req) => {
    const certificates = await service.list(req.principal, req.params.account_id);
    return success(certificates, {
      result_info: { page: 1, per_page: certificates.length, count: certificates.length, total_count: certificates.length, total_pages: 1 },
    });
  });

  routes.get(`${base}/:mtls_certificate_id`, { schema: { params: CertificateParams, response: { 200: Envelope(MtlsCertificate) } } }, async (req) =>
    success(await service.get(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );

  routes.get(
    `${base}/:mtls_certificate_id/associations`,
    { schema: { params: CertificateParams, response: { 200: Envelope(Type.Array(MtlsAssociation)) } } },
    async (req) => success(await service.associations(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );

  routes.delete(`${base}/:mtls_certificate_id`, { schema: { params: CertificateParams, response: { 200: Envelope(MtlsCertificate) } } }, async (req) =>
    success(await service.delete(req.principal, req.params.account_id, req.params.mtls_certificate_id)),
  );
}
