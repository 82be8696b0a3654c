import type { AppContext } from '../context.js';
import type { Change } from '../storage/changes.js';
import type { HostnameIndex } from './hostname-index.js';
import type { Site, SiteCache } from './sites.js';

/** What the edge's open connections need to hear about changes (server.ts). */
export interface ConnectionsView {
  /** Some open connection serves this custom hostname. */
  boundTo(id: string): boolean;
  /** The custom hostnames of a zone that open connections serve (every zone: undefined). */
  boundInZone(zoneId?: string): string[];
  /** The hostname's configuration as it now is (null: no longer served). */
  reconcile(id: string, site: Site | null): void;
  /** Custom hostname `id` (now) owns `hostname`. */
  nameTaken(hostname: string, id: string): void;
}

/**
 * Keeps the edge's index and site cache in step with the database through the change feed:
 * woken at once by the in-process event, and polling as well (another process may write the
 * same database). It reads from its last sequence number, so a missed wake-up only delays.
 */
export class EdgeSync {
  private lastSeq = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly onChange = () => this.poke();
  /**
   * Hostnames changed by the batch being applied that are cached or have open connections:
   * built again once the batch is applied (other zone-wide changes stay lazy).
   */
  private readonly rebuild = new Set<string>();
  /** What the start-up load took (printed by `serve`). */
  loaded = { hostnames: 0, ms: 0, heapMiB: 0 };

  constructor(
    private readonly ctx: AppContext,
    private readonly index: HostnameIndex,
    private readonly sites: SiteCache,
    private readonly connections?: ConnectionsView,
    /** Polling besides the wake-ups (undefined: 250 ms, or 1 s where NOTIFY wakes the edge). */
    private readonly pollMs?: number,
  ) {}

  async start(): Promise<void> {
    // The sequence first, then the load: a change racing the load is applied again, never lost.
    this.lastSeq = await this.ctx.store.changes.newestSeq(this.ctx.store.db);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    await this.index.load(this.ctx.store.db);
    this.loaded = {
      hostnames: this.index.size,
      ms: Math.round(performance.now() - started),
      heapMiB: Math.max(0, (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024),
    };
    this.ctx.store.changes.on('changed', this.onChange);
    // Other nodes' changes: NOTIFY on PostgreSQL; polling as well, which is all SQLite has.
    this.unlisten = this.ctx.store.listen?.(this.onChange, (err) => this.ctx.log.warn({ err }, 'edge: change notifications interrupted; reconnecting'));
    this.timer = setInterval(this.onChange, this.pollMs ?? (this.ctx.store.listen ? 1000 : 250));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.ctx.store.changes.off('changed', this.onChange);
    clearInterval(this.timer);
    await this.unlisten?.();
  }

  /** Resolves once every change committed before the call has been applied. */
  async settle(): Promise<void> {
    this.poke();
    while (this.running) await this.running;
  }

  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err) => this.ctx.log.error({ err }, 'edge: applying changes failed; retrying on the next poll'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  private async drain(): Promise<void> {
    // Changes older than the retention are pruned (server.ts). An edge that fell behind what is
    // kept cannot replay: it reloads everything instead.
    const oldest = await this.ctx.store.changes.oldestSeq(this.ctx.store.db);
    if (oldest !== null && oldest > this.lastSeq + 1) await this.resync();
    for (;;) {
      const changes = await this.ctx.store.changes.since(this.ctx.store.db, this.lastSeq);
      if (changes.length === 0) {
        this.ctx.metrics.changeFeedLag.set(0);
        return;
      }
      for (const change of changes) {
        await this.apply(change);
        this.lastSeq = change.seq;
      }
      const last = changes[changes.length - 1]!;
      this.ctx.metrics.changeFeedApplied.set(last.seq);
      this.ctx.metrics.changeFeedLag.set(Math.max(0, this.ctx.clock.now().getTime() - Date.parse(last.created_at)) / 1000);
      // Hostnames that were cached are built again once per batch, not on their next handshake;
      // connections opened under a configuration that is no more are then retired.
      const ids = [...this.rebuild];
      this.rebuild.clear();
      const rebuilt = await Promise.all(ids.map((id) => this.sites.refresh(id)));
      ids.forEach((id, i) => this.connections?.reconcile(id, rebuilt[i]!));
    }
  }

  private async zoneChanged(zoneId: string): Promise<void> {
    await this.sites.invalidateZone(zoneId);
    for (const id of this.connections?.boundInZone(zoneId) ?? []) this.rebuild.add(id);
  }

  private async resync(): Promise<void> {
    const seq = await this.ctx.store.changes.newestSeq(this.ctx.store.db);
    this.index.clear();
    this.sites.clear();
    await this.index.load(this.ctx.store.db);
    this.lastSeq = seq;
    for (const id of this.connections?.boundInZone() ?? []) this.connections?.reconcile(id, await this.sites.refresh(id));
    this.ctx.log.warn({ seq }, 'edge: behind the retained change feed; reloaded every hostname');
  }

  private async apply(change: Change): Promise<void> {
    const db = this.ctx.store.db;
    switch (change.kind) {
      case 'custom_hostname':
      case 'certificate_pack': {
        await this.index.refresh(db, change.entity_id);
        const cached = this.sites.invalidate(change.entity_id);
        if (cached || this.connections?.boundTo(change.entity_id)) this.rebuild.add(change.entity_id);
        const hostname = this.index.hostnameOf(change.entity_id);
        if (hostname) this.connections?.nameTaken(hostname, change.entity_id);
        return;
      }
      case 'fallback_origin':
      case 'hostname_association':
        if (change.zone_id) await this.zoneChanged(change.zone_id);
        return;
      case 'zone':
        await this.index.refreshZone(db, change.entity_id);
        await this.zoneChanged(change.entity_id);
        return;
      case 'mtls_certificate':
        return; // a CA in use cannot be deleted; uploads change nothing until associated
    }
  }
}
