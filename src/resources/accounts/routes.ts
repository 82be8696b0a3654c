import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { success } from '../../api/envelope.js';
import { pageRequest, resultInfo } from '../../api/pagination.js';
import { TagParam, PageQuery } from '../../api/validate.js';
import type { AccountsService } from './service.js';

export function accountRoutes(app: FastifyInstance, service: AccountsService): void {
  app.get<{ Querystring: { page?: number; per_page?: number; direction?: string; name?: string } }>(
    '/accounts',
    { schema: { querystring: Type.Composite([PageQuery, Type.Object({ name: Type.Optional(Type.String()), direction: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])) })]) } },
    async (req) => {
      const page = pageRequest(req.query);
      let all = await service.list(req.principal);
      if (req.query.name !== undefined) all = all.filter((a) => a.name.includes(req.query.name!));
      const slice = all.slice((page.page - 1) * page.perPage, page.page * page.perPage);
      return success(slice, { result_info: resultInfo(page, slice.length, all.length) });
    },
  );
  app.get<{ Params: { account_id: string } }>(
    '/accounts/:account_id',
    { schema: { params: Type.Object({ account_id: TagParam }) } },
    async (req) => success(await service.get(req.principal, req.params.account_id)),
  );
}
