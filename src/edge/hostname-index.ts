import type { Db } from '../storage/schema.js';
import { customHostnamesRepository } from '../resources/custom-hostnames/repository.js';
import { zonesRepository } from '../resources/zones/repository.js';

export interface IndexEntry {
  id: string;
  zoneId: string;
}

/**
 * Every servable custom hostname (one with a certificate), in memory: SNI → custom hostname.
 * Kept small (a Map of short strings) so 100k hostnames cost well under 1 KB each; everything
 * else about a hostname is loaded on its first handshake (sites.ts).
 */
export class HostnameIndex {
  private readonly byHostname = new Map<string, IndexEntry>();
  private readonly hostnameById = new Map<string, string>();

  get size(): number {
    return this.byHostname.size;
  }

  /** Exact match first, then a wildcard custom hostname covering one label. */
  lookup(serverName: string): IndexEntry | undefined {
    const name = serverName.toLowerCase().replace(/\.$/, '');
    const exact = this.byHostname.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return dot > 0 ? this.byHostname.get('*' + name.slice(dot)) : undefined;
  }

  hostnameOf(id: string): string | undefined {
    return this.hostnameById.get(id);
  }

  set(hostname: string, entry: IndexEntry): void {
    const previous = this.hostnameById.get(entry.id);
    if (previous !== undefined && previous !== hostname) this.byHostname.delete(previous);
    this.byHostname.set(hostname, entry);
    this.hostnameById.set(entry.id, hostname);
  }

  remove(id: string): void {
    const hostname = this.hostnameById.get(id);
    if (hostname === undefined) return;
    this.byHostname.delete(hostname);
    this.hostnameById.delete(id);
  }

  idsInZone(zoneId: string): string[] {
    const ids: string[] = [];
    for (const entry of this.byHostname.values()) if (entry.zoneId === zoneId) ids.push(entry.id);
    return ids;
  }

  clear(): void {
    this.byHostname.clear();
    this.hostnameById.clear();
  }

  /** Loads every servable hostname, in pages so 100k rows never sit in one result set. */
  async load(db: Db): Promise<void> {
    const PAGE = 5000;
    let after = '';
    for (;;) {
      const rows = await customHostnamesRepository.servablePage(db, after, PAGE);
      for (const r of rows) this.set(r.hostname, { id: r.id, zoneId: r.zone_id });
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Re-reads one hostname after a change: added, updated, or gone. */
  async refresh(db: Db, id: string): Promise<void> {
    const row = await customHostnamesRepository.indexEntry(db, id);
    if (!row || row.ssl_status !== 'active') this.remove(id);
    else this.set(row.hostname, { id: row.id, zoneId: row.zone_id });
  }

  /** After a zone change: drop the zone's hostnames if the zone is gone (its rows cascaded away). */
  async refreshZone(db: Db, zoneId: string): Promise<void> {
    if (!(await zonesRepository.exists(db, zoneId))) for (const id of this.idsInZone(zoneId)) this.remove(id);
  }
}
