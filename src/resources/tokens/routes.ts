import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { success } from '../../api/envelope.js';
import { Envelope } from '../../api/responses.js';
import type { TokensService } from './service.js';

export function tokenRoutes(app: FastifyInstance, service: TokensService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  routes.get('/user/tokens/verify', { schema: { response: { 200: Envelope(Type.Object({ id: Type.String(), status: Type.Literal('active') })) } } }, async (req) =>
    success(service.verify(req.principal), {
      messages: [{ code: 10000, message: 'This API Token is valid and active', type: null }],
    }),
  );
}
