import type { Db, PackCertificatesTable } from '../../storage/schema.js';
import { prepared } from '../../storage/prepared.js';

/** A pack certificate without its sealed key: all the API ever shows. */
export type PackCertificateView = Omit<PackCertificatesTable, 'key_ciphertext' | 'key_id'>;
const PUBLIC_COLUMNS = [
  'id', 'pack_id', 'custom_hostname_id', 'key_type', 'certificate', 'issuer', 'serial_number', 'signature',
  'expires_on', 'issued_on', 'uploaded_on', 'fingerprint_sha256', 'hosts',
] as const;

// The queries of every certificate PUT, compiled once (see storage/prepared.ts).
const publicPack = prepared((db, p: { customHostnameId: string }) =>
  db.selectFrom('pack_certificates').select(PUBLIC_COLUMNS).where('custom_hostname_id', '=', p.customHostnameId).orderBy('key_type'),
);
/** Every column but the slot's (id, pack, hostname, key type): the type fails to compile when a column is added. */
type ReplacedColumns = Omit<PackCertificatesTable, 'id' | 'pack_id' | 'custom_hostname_id' | 'key_type'>;
const replaceCertificate = prepared((db, p: PackCertificatesTable) => {
  const columns: ReplacedColumns = {
    certificate: p.certificate,
    key_ciphertext: p.key_ciphertext,
    key_id: p.key_id,
    issuer: p.issuer,
    serial_number: p.serial_number,
    signature: p.signature,
    expires_on: p.expires_on,
    issued_on: p.issued_on,
    uploaded_on: p.uploaded_on,
    fingerprint_sha256: p.fingerprint_sha256,
    hosts: p.hosts,
  };
  return db.updateTable('pack_certificates').set(columns).where('id', '=', p.id);
});

export const packCertificatesRepository = {
  /** With the sealed keys: for the edge, which serves them. */
  forHostname: (db: Db, customHostnameId: string) =>
    db.selectFrom('pack_certificates').selectAll().where('custom_hostname_id', '=', customHostnameId).orderBy('key_type').execute(),

  /** What the API shows and checks; the sealed keys are most of a row's bytes, so they stay put. */
  publicForHostname: (db: Db, customHostnameId: string): Promise<PackCertificateView[]> => publicPack.execute(db, { customHostnameId }),

  /** For listings: the public columns only (the sealed keys are most of a row's bytes). */
  async forHostnames(db: Db, ids: string[]): Promise<Map<string, PackCertificateView[]>> {
    const byHostname = new Map<string, PackCertificateView[]>();
    if (ids.length === 0) return byHostname;
    const rows = await db.selectFrom('pack_certificates').select(PUBLIC_COLUMNS).where('custom_hostname_id', 'in', ids).execute();
    for (const row of rows) {
      const list = byHostname.get(row.custom_hostname_id) ?? [];
      list.push(row);
      byHostname.set(row.custom_hostname_id, list);
    }
    return byHostname;
  },

  insert: (db: Db, row: PackCertificatesTable) => db.insertInto('pack_certificates').values(row).execute(),

  /** Replaces everything about a certificate but its id, pack, hostname and key type (its slot). */
  replace: async (db: Db, id: string, row: PackCertificatesTable) => {
    await replaceCertificate.execute(db, { ...row, id });
  },

  delete: (db: Db, id: string) => db.deleteFrom('pack_certificates').where('id', '=', id).execute(),
};
