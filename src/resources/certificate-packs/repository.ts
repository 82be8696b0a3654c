import type { Db, PackCertificatesTable } from '../../storage/schema.js';

export const packCertificatesRepository = {
  forHostname: (db: Db, customHostnameId: string) =>
    db.selectFrom('pack_certificates').selectAll().where('custom_hostname_id', '=', customHostnameId).orderBy('key_type').execute(),

  async forHostnames(db: Db, ids: string[]): Promise<Map<string, PackCertificatesTable[]>> {
    const byHostname = new Map<string, PackCertificatesTable[]>();
    if (ids.length === 0) return byHostname;
    const rows = await db.selectFrom('pack_certificates').selectAll().where('custom_hostname_id', 'in', ids).orderBy('key_type').execute();
    for (const row of rows) {
      const list = byHostname.get(row.custom_hostname_id) ?? [];
      list.push(row);
      byHostname.set(row.custom_hostname_id, list);
    }
    return byHostname;
  },

  insert: (db: Db, row: PackCertificatesTable) => db.insertInto('pack_certificates').values(row).execute(),

  /** Replaces everything about a certificate but its id, pack and hostname. */
  replace: (db: Db, id: string, row: PackCertificatesTable) => {
    const { id: _id, pack_id: _pack, custom_hostname_id: _host, ...fields } = row;
    return db.updateTable('pack_certificates').set(fields).where('id', '=', id).execute();
  },

  delete: (db: Db, id: string) => db.deleteFrom('pack_certificates').where('id', '=', id).execute(),
};
