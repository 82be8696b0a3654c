import type { Db, TokensTable } from '../../storage/schema.js';

export const tokensRepository = {
  findByHash: (db: Db, hash: string) => db.selectFrom('tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst(),
  insert: (db: Db, row: TokensTable) => db.insertInto('tokens').values(row).execute(),
  count: async (db: Db) => Number((await db.selectFrom('tokens').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n),
};
