import type { FastifyInstance } from 'fastify';
import { success } from '../../api/envelope.js';
import type { TokensService } from './service.js';

export function tokenRoutes(app: FastifyInstance, service: TokensService): void {
  app.get('/user/tokens/verify', async (req) =>
    success(service.verify(req.principal), {
      messages: [{ code: 10000, message: 'This API Token is valid and active', type: null }],
    }),
  );
}
