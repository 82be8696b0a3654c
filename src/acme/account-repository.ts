import type { AcmeAccountsTable, Db } from '../storage/schema.js';

/** edgecert's ACME accounts, one per directory URL. */
export const acmeAccountRepository = {
  get: (db: Db, directoryUrl: string) => db.selectFrom('acme_accounts').selectAll().where('directory_url', '=', directoryUrl).executeTakeFirst(),
  /** The first account stored for a directory wins (two nodes registering at once keep one). */
  insert: (db: Db, row: AcmeAccountsTable) => db.insertInto('acme_accounts').values(row).onConflict((oc) => oc.column('directory_url').doNothing()).execute(),
};
