import type { Db, PackCertificatesTable } from '../../storage/schema.js';
import { prepared } from '../../storage/prepared.js';
import { splitChain } from '../../storage/chains.js';

/**
 * A pack certificate as the rest of the code sees it: `certificate` is the whole chain PEM (leaf,
 * then intermediates). Stored, the intermediates are shared rows of `ca_certificates`.
 */
export type PackCertificateRow = Omit<PackCertificatesTable, 'chain'>;
/** A pack certificate without its sealed key: all the API ever shows. */
export type PackCertificateView = Omit<PackCertificateRow, 'key_ciphertext' | 'key_id'>;
/**
 * What a list page shows of a pack certificate: its facts, not its PEM. A page of 50 packs
 * carried about 140 KB of chains, most of a list request's CPU (JSON escaping, writing);
 * Cloudflare's own answers do not echo the certificate either. A GET of one hostname still
 * carries it. Read with the page (custom-hostnames/repository.ts, `withPack`).
 */
export type PackCertificateSummary = Omit<PackCertificateView, 'certificate'>;
export const SUMMARY_COLUMNS = [
  'id', 'pack_id', 'custom_hostname_id', 'key_type', 'issuer', 'serial_number', 'signature',
  'expires_on', 'issued_on', 'uploaded_on', 'fingerprint_sha256', 'hosts',
] as const;
const PUBLIC_COLUMNS = [...SUMMARY_COLUMNS, 'certificate', 'chain'] as const;

/**
 * Intermediates by fingerprint. Content-addressed (a fingerprint always names the same PEM), so
 * an entry never goes stale; a handful of public CAs issue nearly everything, so it stays small.
 */
const intermediateCache = new Map<string, string>();
const CACHE_LIMIT = 10_000;

/** Rows as stored → whole chains: each row's leaf followed by its intermediates. */
async function withChains<T extends { certificate: string; chain: string }>(db: Db, rows: T[]): Promise<Array<Omit<T, 'chain'>>> {
  const missing = new Set<string>();
  for (const r of rows) for (const f of r.chain ? r.chain.split(' ') : []) if (!intermediateCache.has(f)) missing.add(f);
  if (missing.size > 0) {
    const found = await db.selectFrom('ca_certificates').select(['fingerprint', 'pem']).where('fingerprint', 'in', [...missing]).execute();
    for (const ca of found) {
      if (intermediateCache.size >= CACHE_LIMIT) intermediateCache.delete(intermediateCache.keys().next().value!);
      intermediateCache.set(ca.fingerprint, ca.pem);
    }
  }
  return rows.map(({ chain, ...row }) => {
    if (!chain) return row;
    const pems = chain.split(' ').map((f) => intermediateCache.get(f));
    if (pems.some((p) => p === undefined)) throw new Error(`pack certificate ${(row as { id?: string }).id}: an intermediate of its chain is missing`);
    return { ...row, certificate: row.certificate + pems.join('') };
  });
}

/**
 * A whole chain → the stored leaf and fingerprints. Its intermediates are inserted in the same
 * write every time (a no-op when present), so a committed row never names one that is not
 * stored; the cache above only ever serves reads.
 */
async function storedChain(db: Db, chainPem: string): Promise<{ certificate: string; chain: string }> {
  const split = splitChain(chainPem);
  for (const ca of split.intermediates) await insertIntermediate.execute(db, ca);
  return { certificate: split.leaf, chain: split.chain };
}
const insertIntermediate = prepared((db, p: { fingerprint: string; pem: string }) =>
  db.insertInto('ca_certificates').values({ fingerprint: p.fingerprint, pem: p.pem }).onConflict((oc) => oc.column('fingerprint').doNothing()),
);

// The queries of every certificate PUT, compiled once (see storage/prepared.ts).
const publicPack = prepared((db, p: { customHostnameId: string }) =>
  db.selectFrom('pack_certificates').select(PUBLIC_COLUMNS).where('custom_hostname_id', '=', p.customHostnameId).orderBy('key_type'),
);
/** Every column but the slot's (id, pack, hostname, key type): the type fails to compile when a column is added. */
type ReplacedColumns = Omit<PackCertificatesTable, 'id' | 'pack_id' | 'custom_hostname_id' | 'key_type'>;
const replaceCertificate = prepared((db, p: PackCertificatesTable) => {
  const columns: ReplacedColumns = {
    certificate: p.certificate,
    chain: p.chain,
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

const insertCertificate = prepared((db, p: PackCertificatesTable) => {
  const row: PackCertificatesTable = {
    id: p.id, pack_id: p.pack_id, custom_hostname_id: p.custom_hostname_id, key_type: p.key_type, certificate: p.certificate, chain: p.chain,
    key_ciphertext: p.key_ciphertext, key_id: p.key_id, issuer: p.issuer, serial_number: p.serial_number, signature: p.signature,
    expires_on: p.expires_on, issued_on: p.issued_on, uploaded_on: p.uploaded_on, fingerprint_sha256: p.fingerprint_sha256, hosts: p.hosts,
  };
  return db.insertInto('pack_certificates').values(row);
});

export const packCertificatesRepository = {
  /** With the sealed keys: for the edge, which serves them. */
  forHostname: async (db: Db, customHostnameId: string): Promise<PackCertificateRow[]> =>
    withChains(db, await db.selectFrom('pack_certificates').selectAll().where('custom_hostname_id', '=', customHostnameId).orderBy('key_type').execute()),

  /** What the API shows and checks; the sealed keys are most of a row's bytes, so they stay put. */
  publicForHostname: async (db: Db, customHostnameId: string): Promise<PackCertificateView[]> => withChains(db, await publicPack.execute(db, { customHostnameId })),

  insert: async (db: Db, row: PackCertificateRow) => {
    await insertCertificate.execute(db, { ...row, ...(await storedChain(db, row.certificate)) });
  },

  /** Replaces everything about a certificate but its id, pack, hostname and key type (its slot). */
  replace: async (db: Db, id: string, row: PackCertificateRow) => {
    await replaceCertificate.execute(db, { ...row, ...(await storedChain(db, row.certificate)), id });
  },

  delete: (db: Db, id: string) => db.deleteFrom('pack_certificates').where('id', '=', id).execute(),
};
