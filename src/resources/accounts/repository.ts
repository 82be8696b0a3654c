import type { Db, AccountsTable } from '../../storage/schema.js';

export const accountsRepository = {
  get: (db: Db, id: string) => db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst(),
  getByName: (db: Db, name: string) => db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst(),
  insert: (db: Db, row: AccountsTable) => db.insertInto('accounts').values(row).execute(),
};
