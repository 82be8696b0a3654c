import { Gauge } from 'prom-client';
import type { AppContext } from '../context.js';
import { watchedCertificates } from '../storage/expiry.js';

const DAY_MS = 86_400_000;

/**
 * The certificate expiry series, read from the database at each scrape (the process serving the
 * API registers them once): one `edgecert_certificate_expiry_timestamp_seconds` per certificate of
 * a custom hostname and per mTLS CA, labelled with public facts only, and counts by days left.
 * Also the head of the change feed, against which the edges' applied sequence is compared.
 */
export function registerStoreMetrics(ctx: Pick<AppContext, 'store' | 'metrics' | 'clock'>): void {
  const registers = [ctx.metrics.registry];
  // Collected once per scrape for both gauges.
  let pending: Promise<Awaited<ReturnType<typeof watchedCertificates>>> | undefined;
  const certificates = () => (pending ??= watchedCertificates(ctx.store.db).finally(() => setTimeout(() => (pending = undefined), 0)));
  new Gauge({
    name: 'edgecert_certificate_expiry_timestamp_seconds',
    help: 'When each certificate expires (Unix time): custom hostname certificates and mTLS CAs.',
    labelNames: ['kind', 'zone', 'hostname', 'key_type', 'certificate_id'],
    registers,
    async collect() {
      this.reset();
      for (const c of await certificates()) {
        this.set({ kind: c.kind, zone: c.zone, hostname: c.hostname, key_type: c.keyType, certificate_id: c.certificateId }, Date.parse(c.expiresOn) / 1000);
      }
    },
  });
  new Gauge({
    name: 'edgecert_certificates_expiring',
    help: 'Certificates expiring within 7 and 30 days (expired ones included), custom hostname certificates and mTLS CAs.',
    labelNames: ['within_days'],
    registers,
    async collect() {
      const now = ctx.clock.now().getTime();
      const left = (await certificates()).map((c) => Date.parse(c.expiresOn) - now);
      for (const days of [7, 30]) this.set({ within_days: String(days) }, left.filter((ms) => ms <= days * DAY_MS).length);
    },
  });
  new Gauge({
    name: 'edgecert_change_feed_head_sequence',
    help: 'The newest change in the change feed.',
    registers,
    async collect() {
      this.set(await ctx.store.changes.newestSeq(ctx.store.db));
    },
  });
}
