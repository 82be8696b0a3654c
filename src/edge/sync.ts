import type { AppContext } from '../context.js';
import type { Change } from '../storage/changes.js';
import type { HostnameIndex } from './hostname-index.js';
import type { SiteCache } from './sites.js';

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
  /** Cached hostnames changed by the batch being applied (zone-wide changes stay lazy). */
  private readonly rebuild = new Set<string>();
  /** What the start-up load took (printed by `serve`). */
  loaded = { hostnames: 0, ms: 0, heapMiB: 0 };

  constructor(
    private readonly ctx: AppContext,
    private readonly index: HostnameIndex,
    private readonly sites: SiteCache,
    private readonly pollMs = 250,
  ) {}

  async start(): Promise<void> {
    // The sequence first, then the load: a change racing the load is applied again, never lost.
    const max = await this.ctx.store.db.selectFrom('changes').select(({ fn }) => fn.max('seq').as('seq')).executeTakeFirst();
    this.lastSeq = Number(max?.seq ?? 0);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    await this.index.load(this.ctx.store.db);
    this.loaded = {
      hostnames: this.index.size,
      ms: Math.round(performance.now() - started),
      heapMiB: Math.max(0, (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024),
    };
    this.ctx.changes.on('changed', this.onChange);
    // Other nodes' changes: NOTIFY on PostgreSQL; polling as well, which is all SQLite has.
    this.unlisten = this.ctx.store.listen?.(this.onChange, (err) => this.ctx.log.warn({ err }, 'edge: change notifications interrupted; reconnecting'));
    this.timer = setInterval(this.onChange, this.ctx.store.listen ? this.pollMs * 4 : this.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.ctx.changes.off('changed', this.onChange);
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
    const oldest = await this.ctx.changes.oldestSeq(this.ctx.store.db);
    if (oldest !== null && oldest > this.lastSeq + 1) await this.resync();
    for (;;) {
      const changes = await this.ctx.changes.since(this.ctx.store.db, this.lastSeq);
      if (changes.length === 0) return;
      for (const change of changes) {
        await this.apply(change);
        this.lastSeq = change.seq;
      }
      // Hostnames that were cached are built again once per batch, not on their next handshake.
      const rebuilt = [...this.rebuild].map((id) => this.sites.refresh(id));
      this.rebuild.clear();
      await Promise.all(rebuilt);
    }
  }

  private async resync(): Promise<void> {
    const max = await this.ctx.store.db.selectFrom('changes').select(({ fn }) => fn.max('seq').as('seq')).executeTakeFirst();
    const seq = Number(max?.seq ?? 0);
    this.index.clear();
    this.sites.clear();
    await this.index.load(this.ctx.store.db);
    this.lastSeq = seq;
    this.ctx.log.warn({ seq }, 'edge: behind the retained change feed; reloaded every hostname');
  }

  private async apply(change: Change): Promise<void> {
    const db = this.ctx.store.db;
    switch (change.kind) {
      case 'custom_hostname':
      case 'certificate_pack':
        await this.index.refresh(db, change.entity_id);
        if (this.sites.invalidate(change.entity_id)) this.rebuild.add(change.entity_id);
        return;
      case 'fallback_origin':
      case 'hostname_association':
        if (change.zone_id) await this.sites.invalidateZone(change.zone_id);
        return;
      case 'zone':
        await this.index.refreshZone(db, change.entity_id);
        await this.sites.invalidateZone(change.entity_id);
        return;
      case 'mtls_certificate':
        return; // a CA in use cannot be deleted; uploads change nothing until associated
    }
  }
}
