import type { Db, MtlsCertificatesTable } from '../../storage/schema.js';

export const mtlsCertificatesRepository = {
  get: (db: Db, accountId: string, id: string) =>
    db.selectFrom('mtls_certificates').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst(),
  /** The PEM chain of a certificate (the edge's client-CA lists). */
  chainOf: async (db: Db, id: string) => (await db.selectFrom('mtls_certificates').select('certificates').where('id', '=', id).executeTakeFirst())?.certificates,
  list: (db: Db, accountId: string) =>
    db.selectFrom('mtls_certificates').selectAll().where('account_id', '=', accountId).orderBy('uploaded_on').orderBy('id').execute(),
  async usedCaSlots(db: Db, accountId: string): Promise<number[]> {
    const rows = await db.selectFrom('mtls_certificates').select('ca_slot').where('account_id', '=', accountId).where('ca_slot', 'is not', null).execute();
    return rows.map((r) => Number(r.ca_slot));
  },
  /** How many hostname associations name this CA (a CA in use cannot be deleted). */
  async associationCount(db: Db, id: string): Promise<number> {
    const r = await db
      .selectFrom('hostname_associations')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('ca_id', '=', id)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  },
  /** The zones whose hostnames are associated with this CA. */
  async zonesUsing(db: Db, id: string): Promise<string[]> {
    const rows = await db.selectFrom('hostname_associations').select('zone_id').distinct().where('ca_id', '=', id).execute();
    return rows.map((r) => r.zone_id);
  },
  insert: (db: Db, row: MtlsCertificatesTable) => db.insertInto('mtls_certificates').values(row).execute(),
  delete: (db: Db, id: string) => db.deleteFrom('mtls_certificates').where('id', '=', id).execute(),
};
