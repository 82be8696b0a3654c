import type { Db, HostnameAssociationsTable, ManagedCasTable } from '../../storage/schema.js';

/** The ca_id of the zone's managed CA in hostname_associations. */
export const MANAGED_CA = 'managed';

export const associationsRepository = {
  forCa: (db: Db, zoneId: string, caId: string) =>
    db.selectFrom('hostname_associations').selectAll().where('zone_id', '=', zoneId).where('ca_id', '=', caId).orderBy('hostname').execute(),

  async replace(db: Db, zoneId: string, caId: string, rows: HostnameAssociationsTable[]) {
    await db.deleteFrom('hostname_associations').where('zone_id', '=', zoneId).where('ca_id', '=', caId).execute();
    if (rows.length > 0) await db.insertInto('hostname_associations').values(rows).execute();
  },

  /**
   * Associations that may apply to `hostname`, newest first: its own and, for a wildcard
   * (`*.example.com`), those of names below it (a superset: LIKE's `_` matches any character;
   * the caller keeps the names the wildcard really covers).
   */
  candidatesFor(db: Db, zoneId: string, hostname: string, wildcard: boolean) {
    let query = db.selectFrom('hostname_associations').select(['hostname', 'ca_id', 'association_seq']).where('zone_id', '=', zoneId);
    query = wildcard ? query.where((eb) => eb.or([eb('hostname', '=', hostname), eb('hostname', 'like', `%${hostname.slice(1)}`)])) : query.where('hostname', '=', hostname);
    return query.orderBy('association_seq', 'desc').execute();
  },

};

export const managedCasRepository = {
  get: (db: Db, zoneId: string) => db.selectFrom('managed_cas').selectAll().where('zone_id', '=', zoneId).executeTakeFirst(),
  /** First writer wins: two nodes creating a zone's managed CA at once keep one. */
  insertIfAbsent: (db: Db, row: ManagedCasTable) =>
    db.insertInto('managed_cas').values(row).onConflict((oc) => oc.column('zone_id').doNothing()).execute(),
};
