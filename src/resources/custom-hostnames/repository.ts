import { sql, type SelectQueryBuilder } from 'kysely';
import { jsonArrayFrom as sqliteJsonArrayFrom } from 'kysely/helpers/sqlite';
import { jsonArrayFrom as postgresJsonArrayFrom } from 'kysely/helpers/postgres';
import type { CustomHostnamesTable, Database, Db, FallbackOriginsTable } from '../../storage/schema.js';
import { offsetOf, type PageRequest } from '../../api/pagination.js';
import { prepared } from '../../storage/prepared.js';
import { ANCHOR_EVERY, ANCHORS_FROM_OFFSET, PageAnchors } from './page-anchors.js';
import { narrowingQuery, rowidsMatching } from './hostname-search.js';
import type { Dialect } from '../../storage/connect.js';
import { SUMMARY_COLUMNS, type PackCertificateSummary } from './pack-repository.js';

export interface CustomHostnameFilter {
  zoneId: string;
  id?: string;
  hostname?: { op: 'exact' | 'contain' | 'startsWith'; value: string };
  /** Derived: 'active' when the pack holds a certificate, else 'pending_validation' (also what ssl=1/0 mean). */
  sslStatus?: string[];
  hostnameStatus?: string;
  wildcard?: boolean;
  customOriginServer?: string;
  certificateAuthority?: string;
  order: 'ssl' | 'ssl_status' | 'hostname' | 'created_at';
  direction: 'asc' | 'desc';
}

/** Deep-page anchors of this process's listings (page-anchors.ts). */
const pageAnchors = new PageAnchors();

/** The zone's newest change: any custom hostname write in the zone, on any node, raises it. */
async function zoneVersion(db: Db, zoneId: string): Promise<number> {
  const r = await db.selectFrom('changes').select(({ fn }) => fn.max('seq').as('seq')).where('zone_id', '=', zoneId).executeTakeFirst();
  return Number(r?.seq ?? 0);
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);


/** Every certificate PUT and DELETE starts with it (see storage/prepared.ts). */
const hostnameWithZone = prepared((db, p: { zoneId: string; id: string }) =>
  db
    .selectFrom('zones')
    .leftJoin('custom_hostnames', (join) => join.onRef('custom_hostnames.zone_id', '=', 'zones.id').on('custom_hostnames.id', '=', p.id))
    .selectAll('custom_hostnames')
    .select('zones.account_id as zone_account_id')
    .where('zones.id', '=', p.zoneId),
);

/** Every create runs it: compiled once (storage/prepared.ts); the object lists every column, or it does not compile. */
const insertHostname = prepared((db, p: CustomHostnamesTable) => {
  const row: CustomHostnamesTable = {
    id: p.id, zone_id: p.zone_id, hostname: p.hostname, custom_metadata: p.custom_metadata, custom_origin_server: p.custom_origin_server,
    custom_origin_sni: p.custom_origin_sni, status: p.status, verification_token: p.verification_token, http_token: p.http_token,
    created_at: p.created_at, updated_at: p.updated_at, ssl_pack_id: p.ssl_pack_id, ssl_method: p.ssl_method, ssl_type: p.ssl_type,
    ssl_bundle_method: p.ssl_bundle_method, ssl_certificate_authority: p.ssl_certificate_authority, ssl_custom_csr_id: p.ssl_custom_csr_id,
    ssl_cloudflare_branding: p.ssl_cloudflare_branding, ssl_wildcard: p.ssl_wildcard, ssl_settings: p.ssl_settings, ssl_status: p.ssl_status,
    ssl_validation_records: p.ssl_validation_records, ssl_validation_errors: p.ssl_validation_errors, verification_errors: p.verification_errors,
  };
  return db.insertInto('custom_hostnames').values(row);
});

/** A list row: the hostname and its pack's certificate facts (no PEM: see pack-repository.ts). */
export type ListedHostname = CustomHostnamesTable & { pack: PackCertificateSummary[] };

/**
 * The pack's certificate facts as a JSON array beside each hostname row, in the page's own query:
 * one query where a page and then its 100 certificates were two (and each certificate a row
 * object of its own), ~0.6 ms of a list page's ~3 ms at 100k hostnames.
 */
function withPack(query: SelectQueryBuilder<Database, 'custom_hostnames', {}>, dialect: Dialect) {
  // The two helpers build the same subquery for their database (json_group_array / json_agg).
  const jsonArrayFrom: typeof sqliteJsonArrayFrom = dialect === 'sqlite' ? sqliteJsonArrayFrom : postgresJsonArrayFrom;
  return query
    .selectAll('custom_hostnames')
    .select((eb) => jsonArrayFrom(eb.selectFrom('pack_certificates').select(SUMMARY_COLUMNS).whereRef('pack_certificates.custom_hostname_id', '=', 'custom_hostnames.id')).as('pack'));
}

/** SQLite answers the JSON as text, PostgreSQL's driver parses it. */
function listed(rows: Array<CustomHostnamesTable & { pack: unknown }>): ListedHostname[] {
  // In place: the rows are this query's own, and a copy of 25 columns per row showed in profiles.
  for (const r of rows) if (typeof r.pack === 'string') r.pack = JSON.parse(r.pack);
  return rows as ListedHostname[];
}

export const customHostnamesRepository = {
  getById: (db: Db, id: string) => db.selectFrom('custom_hostnames').selectAll().where('id', '=', id).executeTakeFirst(),
  /** The edge's index: servable hostnames (a certificate in the pack) after `afterId`, by id. */
  servablePage: (db: Db, afterId: string, limit: number) =>
    db.selectFrom('custom_hostnames').select(['id', 'zone_id', 'hostname']).where('ssl_status', '=', 'active').where('id', '>', afterId).orderBy('id').limit(limit).execute(),
  indexEntry: (db: Db, id: string) =>
    db.selectFrom('custom_hostnames').select(['id', 'zone_id', 'hostname', 'ssl_status']).where('id', '=', id).executeTakeFirst(),
  get: (db: Db, zoneId: string, id: string) =>
    db.selectFrom('custom_hostnames').selectAll().where('zone_id', '=', zoneId).where('id', '=', id).executeTakeFirst(),
  /** The zone's account (undefined: no such zone) and the hostname in it (undefined: not there), in one query. */
  async getWithZone(db: Db, zoneId: string, id: string): Promise<{ accountId: string; hostname: CustomHostnamesTable | undefined } | undefined> {
    const [row] = await hostnameWithZone.execute(db, { zoneId, id });
    if (!row) return undefined;
    const { zone_account_id, ...hostname } = row as typeof row & CustomHostnamesTable;
    return { accountId: zone_account_id, hostname: hostname.id ? (hostname as CustomHostnamesTable) : undefined };
  },
  /** Which of `hostnames` are custom hostnames of the zone. */
  async namesInZone(db: Db, zoneId: string, hostnames: string[]): Promise<Set<string>> {
    if (hostnames.length === 0) return new Set();
    const rows = await db.selectFrom('custom_hostnames').select('hostname').where('zone_id', '=', zoneId).where('hostname', 'in', hostnames).execute();
    return new Set(rows.map((r) => r.hostname));
  },
  /** The zone each of `hostnames` belongs to, for those that exist. */
  async ownersOf(db: Db, hostnames: string[]): Promise<Map<string, string>> {
    if (hostnames.length === 0) return new Map();
    const rows = await db.selectFrom('custom_hostnames').select(['hostname', 'zone_id']).where('hostname', 'in', hostnames).execute();
    return new Map(rows.map((r) => [r.hostname, r.zone_id]));
  },
  getByHostname: (db: Db, hostname: string) =>
    db.selectFrom('custom_hostnames').selectAll().where('hostname', '=', hostname).executeTakeFirst(),
  insert: (db: Db, row: CustomHostnamesTable) => insertHostname.execute(db, row),
  update: (db: Db, id: string, patch: Partial<CustomHostnamesTable>) =>
    db.updateTable('custom_hostnames').set(patch).where('id', '=', id).execute(),
  delete: (db: Db, id: string) => db.deleteFrom('custom_hostnames').where('id', '=', id).execute(),
  /** Hostnames in the zone (with this ssl_status), from the counts the triggers keep: O(1), not O(zone). */
  async countInZone(db: Db, zoneId: string, sslStatus?: string): Promise<number> {
    let q = db.selectFrom('hostname_counts').select(({ fn }) => fn.sum<number | string | null>('n').as('n')).where('zone_id', '=', zoneId);
    if (sslStatus !== undefined) q = q.where('ssl_status', '=', sslStatus);
    const r = await q.executeTakeFirst();
    return Number(r?.n ?? 0);
  },

  async list(db: Db, f: CustomHostnameFilter, page: PageRequest, dialect: Dialect) {
    // hostname.contain on SQLite: the rows holding the value's rarest trigrams (hostname-search.ts),
    // led by that index: `+zone_id` keeps SQLite from walking the zone's index instead. On
    // PostgreSQL the planner uses the pg_trgm index of migration 013 for the LIKE by itself.
    const narrowing = f.hostname?.op === 'contain' && dialect === 'sqlite' ? await narrowingQuery(db, f.hostname.value) : undefined;
    let q = narrowing
      ? db.selectFrom('custom_hostnames').where(sql<string>`+zone_id`, '=', f.zoneId).where(rowidsMatching(narrowing))
      : db.selectFrom('custom_hostnames').where('zone_id', '=', f.zoneId);
    if (f.id !== undefined) q = q.where('id', '=', f.id);
    if (f.hostname) {
      const v = escapeLike(f.hostname.value);
      if (f.hostname.op === 'exact') q = q.where('hostname', '=', f.hostname.value);
      else q = q.where(sql<boolean>`hostname like ${f.hostname.op === 'contain' ? `%${v}%` : `${v}%`} escape '\\'`);
    }
    for (const status of f.sslStatus ?? []) q = q.where('ssl_status', '=', status);
    if (f.hostnameStatus !== undefined) q = q.where('status', '=', f.hostnameStatus);
    if (f.wildcard !== undefined) q = q.where('ssl_wildcard', '=', f.wildcard ? 1 : 0);
    if (f.customOriginServer !== undefined) q = q.where('custom_origin_server', '=', f.customOriginServer);
    if (f.certificateAuthority !== undefined) q = q.where('ssl_certificate_authority', '=', f.certificateAuthority);

    // Without a filter beyond the zone and one ssl_status, the total is a kept count; otherwise
    // the matching rows are counted.
    const countedByTriggers = f.id === undefined && !f.hostname && (f.sslStatus?.length ?? 0) <= 1 && f.hostnameStatus === undefined &&
      f.wildcard === undefined && f.customOriginServer === undefined && f.certificateAuthority === undefined;
    const total = countedByTriggers
      ? { n: await customHostnamesRepository.countInZone(db, f.zoneId, f.sslStatus?.[0]) }
      : await q.select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // Hostnames are unique, so they end every order: the indexes (zone, ssl_status, hostname),
    // (zone, hostname) and (zone, created_at, hostname) give each order without a sort, and a
    // row's key tells its position (page-anchors.ts).
    const first = f.order === 'ssl' || f.order === 'ssl_status' ? ('ssl_status' as const) : f.order === 'created_at' ? ('created_at' as const) : undefined;
    const ordered = <T extends typeof q>(query: T) => (first ? query.orderBy(first, f.direction).orderBy('hostname') : query.orderBy('hostname', f.direction)) as T;
    const offset = offsetOf(page);
    const read = (query: typeof q) => withPack(query, dialect);
    const byOffset = async () => listed(await read(ordered(q)).limit(page.perPage).offset(offset).execute());
    // Shallow pages walk their offset (cheap); deep ones seek from an anchor.
    if (offset < ANCHORS_FROM_OFFSET || f.id !== undefined) return { rows: await byOffset(), total: Number(total.n) };

    const listing = JSON.stringify([f.zoneId, f.hostname ?? null, f.sslStatus ?? null, f.hostnameStatus ?? null, f.wildcard ?? null, f.customOriginServer ?? null, f.certificateAuthority ?? null, f.order, f.direction]);
    const version = await zoneVersion(db, f.zoneId);
    let anchors = pageAnchors.get(listing, version);
    if (!anchors) {
      // One pass over the listing's keys in the database (the order's index covers them): only
      // every ANCHOR_EVERY-th comes back, not the whole zone.
      const position = first ? sql`${sql.ref(first)} ${sql.raw(f.direction)}, hostname asc` : sql`hostname ${sql.raw(f.direction)}`;
      const numbered = q.select([...(first ? [first] : []), 'hostname', sql<number>`row_number() over (order by ${position})`.as('anchor_rank')] as never);
      const keys = (await db
        .selectFrom(numbered.as('numbered'))
        .selectAll()
        .where(sql<boolean>`anchor_rank % ${ANCHOR_EVERY} = 0`)
        .orderBy(sql`anchor_rank`)
        .execute()) as Array<{ hostname: string; ssl_status?: string; created_at?: string }>;
      anchors = { version, keys: keys.map((k) => ({ hostname: k.hostname, first: first ? k[first] : undefined })) };
    }
    const { after, skip } = PageAnchors.startFor(anchors, offset);
    const want = skip + page.perPage;
    let rows: ListedHostname[];
    if (!after) rows = listed(await read(ordered(q)).limit(page.perPage).offset(skip).execute());
    else if (!first) rows = listed(await read(ordered(q.where('hostname', f.direction === 'asc' ? '>' : '<', after.hostname))).limit(want).execute());
    else if (f.direction === 'asc') {
      // (first, hostname) > (a, b): a row value, which both databases seek to in the index.
      rows = listed(await read(ordered(q.where(sql<boolean>`(${sql.ref(first)}, hostname) > (${after.first!}, ${after.hostname})`))).limit(want).execute());
    } else {
      // first descending, hostname ascending: no one row-value range; the rest of the anchor's
      // run of equal `first`, then the runs below it — two seeks.
      rows = listed(await read(ordered(q.where(first, '=', after.first!).where('hostname', '>', after.hostname))).limit(want).execute());
      if (rows.length < want) rows = rows.concat(listed(await read(ordered(q.where(first, '<', after.first!))).limit(want - rows.length).execute()));
    }
    if (after) rows = rows.slice(skip);
    // Exact or not used: a write to the zone while this was read (on any node) means offsets.
    if ((await zoneVersion(db, f.zoneId)) !== version) return { rows: await byOffset(), total: Number(total.n) };
    pageAnchors.set(listing, anchors);
    return { rows, total: Number(total.n) };
  },
};

export const fallbackOriginsRepository = {
  get: (db: Db, zoneId: string) => db.selectFrom('fallback_origins').selectAll().where('zone_id', '=', zoneId).executeTakeFirst(),
  async upsert(db: Db, row: FallbackOriginsTable) {
    await db
      .insertInto('fallback_origins')
      .values(row)
      .onConflict((oc) => oc.column('zone_id').doUpdateSet({ origin: row.origin, status: row.status, updated_at: row.updated_at }))
      .execute();
  },
  delete: (db: Db, zoneId: string) => db.deleteFrom('fallback_origins').where('zone_id', '=', zoneId).execute(),
};
