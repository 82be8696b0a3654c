/**
 * Deep list pages without scanning every row before them. Offset paging costs O(offset): SQLite
 * and PostgreSQL walk the index up to the offset. A list order ends with the (unique) hostname,
 * so a row's sort key identifies its position: with the key of every ANCHOR_EVERY-th row of a
 * listing (its "anchors"), page p starts from the anchor before its offset, a seek, and walks at
 * most ANCHOR_EVERY - 1 rows.
 *
 * Anchors are exact or not used: they are built in one pass over the listing's keys and tagged
 * with the zone's newest change sequence number; a request uses them only while that number is
 * the same before and after it reads the page (every custom hostname write records a change for
 * its zone, on any node). Otherwise the page is read by offset and the anchors are rebuilt on
 * the next deep request.
 */
export const ANCHOR_EVERY = 100;
/**
 * Anchors serve pages from this offset on. Below it the offset walk is cheaper than a rebuild,
 * which reads the whole listing's keys (in the database) whenever the zone changed.
 */
export const ANCHORS_FROM_OFFSET = 10 * ANCHOR_EVERY;
/** Listings (zone × filter × order) whose anchors are kept, least recently used dropped first. */
const CAPACITY = 256;

/** A row's position in an order: the order's column value (absent for order=hostname) and the hostname. */
export interface SortKey {
  first?: string;
  hostname: string;
}

interface Anchors {
  version: number;
  /** keys[k]: the key of row (k + 1) × ANCHOR_EVERY - 1 (0-based), the last row before offset (k + 1) × ANCHOR_EVERY. */
  keys: SortKey[];
}

export class PageAnchors {
  private readonly entries = new Map<string, Anchors>();

  get(listing: string, version: number): Anchors | undefined {
    const hit = this.entries.get(listing);
    if (!hit || hit.version !== version) return undefined;
    this.entries.delete(listing);
    this.entries.set(listing, hit);
    return hit;
  }

  set(listing: string, anchors: Anchors): void {
    this.entries.delete(listing);
    if (this.entries.size >= CAPACITY) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(listing, anchors);
  }

  /** Where to start reading `offset`: after anchor `key` (undefined: from the start), skipping `skip` rows. */
  static startFor(anchors: Anchors, offset: number): { after?: SortKey; skip: number } {
    const k = Math.min(Math.floor(offset / ANCHOR_EVERY), anchors.keys.length);
    if (k === 0) return { skip: offset };
    return { after: anchors.keys[k - 1], skip: offset - k * ANCHOR_EVERY };
  }
}
