import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { buildApp } from './app.js';
import { isoTimestamp, systemClock, type Clock } from './lib/clock.js';
import { randomIds } from './lib/ids.js';
import { createLogger } from './lib/logger.js';
import { Metrics } from './lib/metrics.js';
import { registerStoreMetrics } from './api/metrics.js';
import { startMetricsListener } from './lib/metrics-listener.js';
import { openStore } from './storage/connect.js';
import { holdsSealedKeys, loadMasterKey, verifyMasterKey, type KeyVault } from './storage/crypto.js';
import { TrustStore } from './pki/trust.js';
import { ValidationPool } from './resources/custom-hostnames/validation-pool.js';
import { AccountsService } from './resources/accounts/service.js';
import { Edge } from './edge/server.js';
import { HttpListener } from './edge/http.js';
import { CertificateIssuer } from './acme/issuer.js';
import { ExpiryAlerts } from './alerts/expiry-alerts.js';
import { auditLogsRepository } from './resources/audit-logs/repository.js';
import { TokensService } from './resources/tokens/service.js';

/** How long change-feed rows are kept: an edge offline longer than this reloads everything. */
export const CHANGE_RETENTION_MS = 24 * 3_600_000;

export interface Running {
  ctx: AppContext;
  /** The API, unless the role is `edge`. */
  app?: FastifyInstance;
  apiUrl?: string;
  /** The TLS edge, unless the role is `api`. */
  edge?: Edge;
  /** host:port the edge listens on. */
  edgeAddress?: string;
  /** host:port of the metrics listener (EDGECERT_METRICS_LISTEN), when this process runs it. */
  metricsAddress?: string;
  /** host:port of the plain HTTP listener (ACME challenges, redirects), when this process runs it. */
  httpAddress?: string;
  /** Obtains and renews certificates through ACME, on API processes when EDGECERT_ACME_DIRECTORY is set. */
  issuer?: CertificateIssuer;
  /** Set on the first start of an empty database: the one token printed to the operator. */
  firstToken?: string;
  close(): Promise<void>;
}

/** Opens storage (migrating it), builds the context, and the API. Shared by `serve`, the CLI and tests. */
export async function openContext(config: Pick<Config, 'logLevel' | 'logFormat' | 'databaseUrl' | 'masterKey' | 'previousMasterKeys' | 'dataDir' | 'trustCaFile' | 'bootstrapToken' | 'bootstrapEmail' | 'bootstrapApiKey'>, opts: { clock?: Clock; log?: NodeJS.WritableStream } = {}) {
  const log = createLogger(config.logLevel, opts.log, config.logFormat);
  const clock = opts.clock ?? systemClock;
  const store = await openStore(config.databaseUrl, { clock });
  await store.migrate();
  let vault: KeyVault;
  try {
    const source = loadMasterKey(config.masterKey, config.dataDir, !(await holdsSealedKeys(store.db)), config.previousMasterKeys);
    vault = await verifyMasterKey(store.db, source, isoTimestamp(clock.now()));
  } catch (err) {
    await store.close();
    throw err;
  }
  const ctx: AppContext = {
    store,
    clock,
    ids: randomIds,
    vault,
    trust: TrustStore.load(config.trustCaFile),
    log,
    metrics: new Metrics(),
    bootstrap: { token: config.bootstrapToken, email: config.bootstrapEmail, apiKey: config.bootstrapApiKey },
    defaultAccountId: '',
  };
  const account = await new AccountsService(ctx).ensureDefault();
  ctx.defaultAccountId = account.id;
  return { ctx, accountCreated: account.created };
}

/**
 * Starts what `config.role` asks for: `api`, `edge`, `all`, or `none` (storage opened, migrated
 * and its master key checked, nothing served: the supervisor of edge workers under --role edge).
 */
export async function startServer(
  config: Omit<Config, 'role'> & { role: Config['role'] | 'none' },
  opts: { clock?: Clock; log?: NodeJS.WritableStream; serveHttp?: boolean; /** An edge worker of a supervisor (main.ts). */ worker?: boolean } = {},
): Promise<Running> {
  const serveApi = config.role === 'api' || config.role === 'all';
  const serveEdge = config.role === 'edge' || config.role === 'all';
  // The plain HTTP listener belongs to an edge node: to the edge in this process, or to the
  // supervisor of edge workers (main.ts says so), never to each worker.
  const serveHttp = (opts.serveHttp ?? serveEdge) && config.httpListen !== null;
  const { ctx, accountCreated } = await openContext(config, opts);
  let firstToken: string | undefined;
  if (accountCreated) {
    const token = await new TokensService(ctx).create({
      name: 'bootstrap (first start)',
      permissions: ['zone:read', 'zone:edit', 'ssl:read', 'ssl:edit', 'account:read'],
    });
    firstToken = token.value;
  }
  let app: FastifyInstance | undefined;
  let apiUrl: string | undefined;
  if (serveApi) {
    registerStoreMetrics(ctx);
    if (config.validationThreads > 0) ctx.validation = new ValidationPool(config.validationThreads, config.trustCaFile, ctx.log);
    app = buildApp(ctx, config.timeouts, { auditLog: config.auditLog }).app;
    await app.listen({ host: config.apiListen.host, port: config.apiListen.port });
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    apiUrl = `http://${host}:${address.port}`;
  }
  // The change feed only has to cover edges that are briefly behind; older rows are pruned.
  let pruner: NodeJS.Timeout | undefined;
  if (serveApi) {
    const prune = () => {
      void ctx.store.changes
        .prune(ctx.store.db, isoTimestamp(new Date(ctx.clock.now().getTime() - CHANGE_RETENTION_MS)))
        .catch((err) => ctx.log.warn({ err }, 'pruning the change feed failed'));
      void ctx.store
        .write(null, (trx) => auditLogsRepository.pruneBefore(trx, isoTimestamp(new Date(ctx.clock.now().getTime() - config.auditRetentionMs))))
        .catch((err) => ctx.log.warn({ err }, 'pruning the audit log failed'));
    };
    prune();
    pruner = setInterval(prune, 3_600_000);
    pruner.unref();
  }
  let edge: Edge | undefined;
  let edgeAddress: string | undefined;
  if (serveEdge) {
    edge = new Edge(ctx, config);
    edgeAddress = await edge.start();
  }
  let http: HttpListener | undefined;
  let httpAddress: string | undefined;
  if (serveHttp) {
    http = new HttpListener(ctx, config);
    httpAddress = await http.start();
  }
  let issuer: CertificateIssuer | undefined;
  if (serveApi && config.acme) {
    issuer = new CertificateIssuer(ctx, config.acme);
    issuer.start();
  }
  // Not in edge workers: their metrics reach the supervisor's scrape.
  const metricsListener = config.metricsListen && !opts.worker ? await startMetricsListener(ctx.metrics, config.metricsListen, config.timeouts.headersMs) : undefined;
  let alerts: ExpiryAlerts | undefined;
  if (serveApi && config.alerts) {
    alerts = new ExpiryAlerts(ctx, config.alerts);
    alerts.start();
  }
  let closing: Promise<void> | undefined;
  return {
    ctx,
    app,
    apiUrl,
    edge,
    edgeAddress,
    httpAddress,
    metricsAddress: metricsListener?.address,
    issuer,
    firstToken,
    close: () =>
      (closing ??= (async () => {
        // In-flight requests get up to 10 s; then connections are cut.
        clearInterval(pruner);
        const timer = app ? setTimeout(() => app.server.closeAllConnections(), 10_000) : undefined;
        try {
          await Promise.all([app?.close(), edge?.close(), http?.close(), issuer?.stop(), alerts?.stop(), metricsListener?.close()]);
          await ctx.validation?.close();
        } finally {
          clearTimeout(timer);
          // A database that can no longer be written (a full or read-only disk) is left as it is:
          // shutdown still completes, and the next start recovers it like after a crash.
          await ctx.store.close().catch((err) => ctx.log.warn({ err }, 'the database could not be closed cleanly'));
        }
      })()),
  };
}
