import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** Where the key type of a certificate is not known (an mTLS CA), and other absent label values. */
export const NONE = '';

type Json = MetricObjectWithValues<MetricValue<string>>[];

/**
 * One process's Prometheus metrics (prom-client), in a registry of its own: the process serving
 * `GET /metrics` adds its edge workers' (`workerMetrics`) and prom-client aggregates them (sums,
 * or the `aggregator` a metric names), so a scrape sees the whole node.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly apiRequests = new Histogram({
    name: 'edgecert_api_request_duration_seconds',
    help: 'API requests by route (its template), method and status, and how long they took.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly handshakes = new Counter({
    name: 'edgecert_edge_handshakes_total',
    help: 'Edge TLS handshakes by result (ok, unknown_sni, no_sni, version_refused, cipher_refused, client_certificate_refused, timeout, failed), the key type of the certificate served and the TLS version.',
    labelNames: ['result', 'key_type', 'tls_version'],
    registers: [this.registry],
  });

  readonly tlsContexts = new Counter({
    name: 'edgecert_tls_context_cache_total',
    help: "The edge's cache of built TLS configurations: hit, miss, build.",
    labelNames: ['event'],
    registers: [this.registry],
  });

  readonly changeFeedLag = new Gauge({
    name: 'edgecert_change_feed_lag_seconds',
    help: 'How old the last change an edge applied was when it applied it (0: caught up); the slowest edge process.',
    registers: [this.registry],
    aggregator: 'max',
  });

  readonly changeFeedApplied = new Gauge({
    name: 'edgecert_change_feed_applied_sequence',
    help: 'The sequence number of the last change the edge applied; the furthest behind edge process.',
    registers: [this.registry],
    aggregator: 'min',
  });

  readonly originErrors = new Counter({
    name: 'edgecert_origin_errors_total',
    help: 'Requests the edge could not complete at the origin, by kind (refused, dns, timeout, tls, reset, no_origin, aborted, other).',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  readonly expiryAlerts = new Counter({
    name: 'edgecert_expiry_alerts_total',
    help: 'Certificate expiry alerts sent to EDGECERT_ALERT_WEBHOOK, by result (sent, failed: an attempt that will be retried).',
    labelNames: ['result'],
    registers: [this.registry],
  });

  /** This process's edge workers' metrics, when it supervises some (main.ts). */
  workerMetrics: (() => Promise<Json[]>) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'edgecert_' });
  }

  /** The exposition text of this process and its workers together. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    const own = await this.registry.getMetricsAsJSON();
    const workers = this.workerMetrics ? await this.workerMetrics() : [];
    if (workers.length === 0) return { contentType: this.registry.contentType, text: await this.registry.metrics() };
    const merged = AggregatorRegistry.aggregate([own, ...workers] as never);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }

  /** For an edge worker: its metrics, sent to the supervisor. */
  json(): Promise<Json> {
    return this.registry.getMetricsAsJSON() as Promise<Json>;
  }
}

/** A failed origin request, by kind (undici's and the system's error codes). */
export function originErrorKind(err: unknown): string {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (/TIMEOUT|ETIMEDOUT/.test(code)) return 'timeout';
  if (/CERT|SSL|TLS/.test(code)) return 'tls';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'reset';
  return 'other';
}
