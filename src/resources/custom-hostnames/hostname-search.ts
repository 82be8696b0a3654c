import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../storage/schema.js';

/**
 * `hostname.contain` on SQLite through the FTS5 trigram index of migration 014. A substring
 * occurs only in hostnames holding every trigram (3-character run) of it, so the rows holding
 * its two rarest trigrams are a superset of the answer; the caller's LIKE keeps it exact.
 *
 * FTS5 would intersect the lists of *all* the value's trigrams, and in a platform's zone some
 * are in nearly every hostname (`cus`, `ust`… of "customer42": 100,000 rows each at 100k, 5 ms
 * before a row is read), so the rarest are found first: each probed trigram's rows are counted
 * up to PROBE_LIMIT (a bounded read: ~0.1 ms each). When every trigram is that common, the value
 * matches a large part of the table and a scan of the zone's index is as cheap: undefined.
 */
const PROBE_LIMIT = 2000;
/** A long value needs only a few rare trigrams; probing them all would cost more than it saves. */
const MAX_PROBED = 12;

/** The distinct trigrams of a value, at most MAX_PROBED, spread over it. */
export function trigramsOf(value: string): string[] {
  const all = [...new Set(Array.from({ length: Math.max(0, value.length - 2) }, (_, i) => value.slice(i, i + 3)))];
  if (all.length <= MAX_PROBED) return all;
  return Array.from({ length: MAX_PROBED }, (_, k) => all[Math.floor((k * all.length) / MAX_PROBED)]!);
}

/**
 * Probe counts, per store, kept PROBE_TTL_MS: a search typed letter by letter (the dashboard's)
 * or repeated probes the same trigrams, and how common a trigram is changes slowly. A stale
 * count only picks a slower plan, never a wrong answer (the LIKE decides what matches).
 */
const PROBE_TTL_MS = 60_000;
const PROBES_KEPT = 10_000;
const probesByStore = new WeakMap<object, Map<string, { rows: number; at: number }>>();

/** How many hostnames hold `trigram`, counted up to PROBE_LIMIT. */
async function probe(db: Db, trigram: string): Promise<number> {
  // One adapter per store, shared by its connections and transactions (as in prepared.ts).
  const adapter = db.getExecutor().adapter;
  let kept = probesByStore.get(adapter);
  if (!kept) probesByStore.set(adapter, (kept = new Map()));
  const now = Date.now();
  const hit = kept.get(trigram);
  if (hit && now - hit.at < PROBE_TTL_MS) return hit.rows;
  const r = await sql<{ n: number }>`select count(*) as n from (select rowid from custom_hostnames_search where custom_hostnames_search match ${phrase(trigram)} limit ${PROBE_LIMIT})`.execute(db);
  const rows = Number(r.rows[0]?.n ?? 0);
  if (kept.size >= PROBES_KEPT) kept.delete(kept.keys().next().value!);
  kept.set(trigram, { rows, at: now });
  return rows;
}

/** An FTS5 phrase holding the trigram as a literal (quotes doubled, though hostname filters have none). */
const phrase = (trigram: string) => `"${trigram.replace(/"/g, '""')}"`;

/**
 * The FTS5 query (e.g. `"r42" AND "er4"`) that narrows `hostname.contain=value` to a few rows,
 * or undefined when no trigram of it is rare enough (or it is shorter than three characters).
 */
export async function narrowingQuery(db: Db, value: string): Promise<string | undefined> {
  const counted: Array<{ trigram: string; rows: number }> = [];
  for (const trigram of trigramsOf(value)) {
    const rows = await probe(db, trigram);
    if (rows === 0) return phrase(trigram); // in no hostname at all: the answer is empty
    counted.push({ trigram, rows });
  }
  counted.sort((a, b) => a.rows - b.rows);
  if (counted.length === 0 || counted[0]!.rows >= PROBE_LIMIT) return undefined;
  return counted.slice(0, 2).map((c) => phrase(c.trigram)).join(' AND ');
}

/** `rowid in (…)`: the rows of custom_hostnames the narrowing query names. */
export const rowidsMatching = (query: string): RawBuilder<boolean> =>
  sql<boolean>`custom_hostnames.rowid in (select rowid from custom_hostnames_search where custom_hostnames_search match ${query})`;
