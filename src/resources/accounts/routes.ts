import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { success } from '../../api/envelope.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { Envelope } from '../../api/responses.js';
import { Direction, TagParam, PageQuery } from '../../api/validate.js';
import { Account } from './model.js';
import type { AccountsService } from './service.js';

export function accountRoutes(app: FastifyInstance, service: AccountsService): void {
  const routes = app.withTypeProvider<TypeBoxTypeProvider>();
  routes.get(
    '/accounts',
    {
      schema: {
        querystring: Type.Composite([PageQuery, Type.Object({ name: Type.Optional(Type.String()), direction: Type.Optional(Direction) })]),
        response: { 200: Envelope(Type.Array(Account)) },
      },
    },
    async (req) => {
      const page = pageRequest(req.query);
      const name = req.query.name;
      let all = await service.list(req.principal);
      if (name !== undefined) all = all.filter((a) => a.name.includes(name));
      const slice = all.slice((page.page - 1) * page.perPage, page.page * page.perPage);
      return success(slice, { result_info: resultInfo(page, slice.length, all.length) });
    },
  );
  routes.get('/accounts/:account_id', { schema: { params: Type.Object({ account_id: TagParam }), response: { 200: Envelope(Account) } } }, async (req) =>
    success(await service.get(req.principal, req.params.account_id)),
  );
}
