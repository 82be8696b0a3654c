import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { AJV_OPTIONS, schemaError } from './api/validate.js';
import type { ErrorObject } from 'ajv';
import type { Timeouts } from './config.js';
import { authenticate } from './api/auth.js';
import { failure } from './api/envelope.js';
import { ApiError, Errors } from './api/errors.js';
import { StoreBusyError, StoreUnwritableError } from './storage/connect.js';
import { AccountsService } from './resources/accounts/service.js';
import { accountRoutes } from './resources/accounts/routes.js';
import { ZonesService } from './resources/zones/service.js';
import { zoneRoutes } from './resources/zones/routes.js';
import { TokensService } from './resources/tokens/service.js';
import { tokenRoutes } from './resources/tokens/routes.js';
import { CustomHostnamesService } from './resources/custom-hostnames/service.js';
import { customHostnameRoutes } from './resources/custom-hostnames/routes.js';
import { CertificatePacksService } from './resources/certificate-packs/service.js';
import { certificatePackRoutes } from './resources/certificate-packs/routes.js';
import { MtlsCertificatesService } from './resources/mtls-certificates/service.js';
import { mtlsCertificateRoutes } from './resources/mtls-certificates/routes.js';
import { HostnameAssociationsService } from './resources/hostname-associations/service.js';
import { hostnameAssociationRoutes } from './resources/hostname-associations/routes.js';
import { auditLogRoutes } from './resources/audit-logs/routes.js';
import { AuditLogsService } from './resources/audit-logs/service.js';
import { openAuditScopes } from './api/audit.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { authSourcesOf } from './resources/tokens/auth-sources.js';
import { recordApiWrites } from './resources/audit-logs/recorder.js';

export const API_PREFIX = '/client/v4';
export const BODY_LIMIT = 1024 * 1024;
const DEFAULT_TIMEOUTS: Timeouts = { headersMs: 10_000, keepAliveMs: 30_000, idleMs: 60_000 };

/** What a route declares (for the contract test and the route table). */
export interface DeclaredRoute {
  method: string;
  url: string;
  /** Status codes with a response schema. */
  responses: string[];
  request: { params: boolean; querystring: boolean; body: boolean };
}

export interface BuiltApp {
  app: FastifyInstance;
  routes: DeclaredRoute[];
  services: {
    accounts: AccountsService;
    zones: ZonesService;
    tokens: TokensService;
    customHostnames: CustomHostnamesService;
    certificatePacks: CertificatePacksService;
    mtlsCertificates: MtlsCertificatesService;
    hostnameAssociations: HostnameAssociationsService;
  };
}

/**
 * The HTTP app, hooks in order: request id → auth (onRequest) → routes (schema-validated) →
 * one error renderer. Every response, errors and unknown routes included, is a v4 envelope.
 */
export function buildApp(ctx: AppContext, timeouts: Timeouts = DEFAULT_TIMEOUTS, opts: { auditLog?: boolean } = {}): BuiltApp {
  const app: FastifyInstance = Fastify({
    // Socket inactivity, and the wait for the next request on a kept-alive connection.
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Node's headers timeout (below) covers a slow request's headers; bodies are bounded by the
    // inactivity timeout and the body limit.
    requestTimeout: 0,
    loggerInstance: ctx.log as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    bodyLimit: BODY_LIMIT,
    // Our own envelope for every error; Fastify's default 404/400 bodies never leave.
    return503OnClosing: true,
    ajv: { customOptions: AJV_OPTIONS },
  });

  // JSON only: no text/plain parser; an empty body is "no body", not a parse error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(Errors.invalidJson((err as Error).message) as unknown as Error, undefined);
    }
  });

  const zones = new ZonesService(ctx);
  const services = {
    accounts: new AccountsService(ctx),
    zones,
    tokens: new TokensService(ctx),
    customHostnames: new CustomHostnamesService(ctx, zones),
    certificatePacks: new CertificatePacksService(ctx),
    mtlsCertificates: new MtlsCertificatesService(ctx),
    hostnameAssociations: new HostnameAssociationsService(ctx, zones),
  };

  // A request's headers must be complete this long after its first byte (or after the
  // connection opened, for the first request); Node checks open connections every second.
  app.server.headersTimeout = timeouts.headersMs;
  (app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(1000, timeouts.headersMs);

  // Every API route declares its contract: request schemas and a response schema per success
  // status, which Fastify serialises with (fast-json-stringify: no field outside it is sent).
  const routes: DeclaredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const schema = route.schema ?? {};
    const declared = {
      method: String(route.method),
      url: route.url,
      responses: Object.keys((schema.response as object | undefined) ?? {}),
      request: { params: schema.params !== undefined, querystring: schema.querystring !== undefined, body: schema.body !== undefined },
    };
    if (route.url.startsWith(API_PREFIX) && !declared.responses.some((code) => code.startsWith('2'))) {
      throw new Error(`${declared.method} ${route.url} declares no response schema`);
    }
    routes.push(declared);
  });

  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.String() }) } } }, async () => ({ status: 'ok' }));
  // Prometheus, unauthenticated like /healthz: the API listener belongs on a private address.
  app.get('/metrics', async (_req, reply) => {
    const { contentType, text } = await ctx.metrics.scrape();
    return reply.type(contentType).send(text);
  });
  app.addHook('onResponse', async (req, reply) => {
    // The route's template (not the URL: ids would make a series per hostname); unrouted requests as one.
    const route = req.routeOptions.url ?? 'unrouted';
    if (route === '/metrics') return;
    ctx.metrics.apiRequests.observe({ route, method: req.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const sources = authSourcesOf(ctx);
  dashboardRoutes(app, sources);

  app.register(
    async (api) => {
      api.addHook('onRequest', async (req) => {
        req.principal = await authenticate(req, sources);
      });
      if (opts.auditLog ?? true) {
        openAuditScopes(api);
        recordApiWrites(ctx);
      }
      accountRoutes(api, services.accounts);
      auditLogRoutes(api, new AuditLogsService(ctx));
      zoneRoutes(api, services.zones);
      tokenRoutes(api, services.tokens);
      customHostnameRoutes(api, services.customHostnames);
      certificatePackRoutes(api, services.certificatePacks);
      mtlsCertificateRoutes(api, services.mtlsCertificates);
      hostnameAssociationRoutes(api, services.hostnameAssociations);
    },
    { prefix: API_PREFIX },
  );

  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const err = path.startsWith(API_PREFIX + '/') ? Errors.couldNotRoute(path.slice(API_PREFIX.length)) : Errors.noRoute();
    return reply.status(err.status).headers(retryHint(err.status)).send(failure(err.errors));
  });

  app.setErrorHandler(async (error: FastifyError | ApiError, req, reply) => {
    const apiError = toApiError(error, req.url);
    if (apiError.status === 503 || apiError.status === 507) req.log.warn({ reqId: req.id }, `refused with 503: ${error.message}`);
    else if (apiError.status >= 500) req.log.error({ err: error, reqId: req.id }, 'unexpected error');
    return reply.status(apiError.status).headers({ ...apiError.headers, ...retryHint(apiError.status) }).send(failure(apiError.errors));
  });

  return { app, routes, services };
}

/**
 * The SDK retries 409 (and others) unless told not to; only a 429 is worth retrying. Every 4xx
 * leaves through the two handlers above, so successes pay for no onSend hook.
 */
const retryHint = (status: number): Record<string, string> => (status >= 400 && status < 500 && status !== 429 ? { 'x-should-retry': 'false' } : {});

function toApiError(error: FastifyError | ApiError, url: string): ApiError {
  if (error instanceof ApiError) return error;
  // Another process holds SQLite's write lock (a transaction gave up waiting, or a single
  // statement hit its busy timeout): nothing was written, and the request can be retried.
  if (error instanceof StoreBusyError) return Errors.databaseBusy(error.message);
  if (error instanceof StoreUnwritableError) return Errors.storageUnwritable(error.message);
  if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return Errors.databaseBusy('the database is locked by another process');
  const fe = error as FastifyError & { validationContext?: string };
  if (fe.validation) {
    const path = url.split('?')[0]!;
    if (fe.validationContext === 'params') return Errors.couldNotRoute(path.slice(API_PREFIX.length));
    return schemaError(fe.validationContext ?? 'body', fe.validation as ErrorObject[]);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return Errors.bodyTooLarge(BODY_LIMIT);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? Errors.unsupportedMediaType(String(fe.message.split(': ')[1] ?? 'unknown')) : Errors.invalidField('invalid content-length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return Errors.invalidJson('the body is empty');
    case 'FST_ERR_CTP_INVALID_TYPE':
      return Errors.unsupportedMediaType('(none)');
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return Errors.invalidField(fe.message);
  }
  return Errors.internal();
}
