import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Principal } from './auth.js';

/**
 * The API write a transaction belongs to, from the request that made it: carried by the request's
 * principal into the service, which hands it to `store.write` (no AsyncLocalStorage: on Node 20
 * its promise hooks cost a third of a PUT).
 */
export interface AuditScope {
  principal: Principal;
  ip: string;
  method: string;
  route: string;
  params: Record<string, string>;
  body: unknown;
  requestId: string;
  /** The resource before the write, as its service saw it (`noteOldValue`). */
  old?: unknown;
  /** The zone's name, once the service has read the zone (`noteZone`): no query in the write. */
  zoneName?: string;
  recorded: boolean;
}

/** A service tells the audit log what the resource was before its write (where it has read it anyway). */
export function noteOldValue(principal: Principal, value: unknown): void {
  const scope = principal.audit as AuditScope | undefined;
  if (scope && scope.old === undefined) scope.old = value;
}

/** The zone a write request addresses, as the service found it. */
export function noteZone(principal: Principal, name: string): void {
  const scope = principal.audit as AuditScope | undefined;
  if (scope) scope.zoneName = name;
}

/** The options of a service's `store.write` for a request: the audit log entry goes with it. */
export const auditOf = (principal: Principal) => ({ audit: principal.audit });

export const ACTIONS: Record<string, string> = { POST: 'add', PUT: 'change', PATCH: 'change', DELETE: 'delete' };
/** Field names whose values are secrets, wherever they appear. `key_type` and friends are not matched. */
const SECRET_FIELD = /^(custom_key|private_key|key|secret|token|api_key|value|password)$/i;

/**
 * What the audit log keeps of a value: private keys and secrets become "[redacted]", a PEM
 * certificate its SHA-256 fingerprint (public, and a few bytes instead of kilobytes).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 16) return '[…]';
  if (typeof value === 'string') {
    if (/PRIVATE KEY/.test(value)) return '[redacted]';
    const pem = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(value);
    if (pem) return `certificate sha256:${createHash('sha256').update(Buffer.from(pem[1]!.replace(/\\n|\s/g, ''), 'base64')).digest('hex')}`;
    return value.length > 1000 ? `${value.slice(0, 1000)}…` : value;
  }
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELD.test(k) ? '[redacted]' : redact(v, depth + 1)]));
  }
  return value;
}

/** `/client/v4/zones/:zone_id/custom_hostnames/:custom_hostname_id` → custom_hostname, and its id. */
export function resourceOf(route: string, params: Record<string, string>, createdId: string | undefined): { type: string; id: string | null } {
  const segments = route.split('/').filter((s) => s !== '' && s !== 'client' && s !== 'v4');
  const lastStatic = [...segments].reverse().find((s) => !s.startsWith(':')) ?? 'unknown';
  const last = segments[segments.length - 1] ?? '';
  const id = last.startsWith(':') ? (params[last.slice(1)] ?? null) : (createdId ?? null);
  return { type: lastStatic.replace(/s$/, ''), id };
}

/** Gives each write request's principal its audit scope (after authentication). */
export function openAuditScopes(api: FastifyInstance): void {
  api.addHook('preHandler', async (req) => {
    if (!(req.method in ACTIONS) || !req.principal) return;
    const principal = req.principal;
    const audit: AuditScope = {
      principal,
      ip: req.ip,
      method: req.method,
      route: req.routeOptions.url ?? req.url,
      params: (req.params ?? {}) as Record<string, string>,
      body: req.body,
      requestId: String(req.id),
      recorded: false,
    };
    // A copy: a principal may be shared between requests (the bootstrap token's).
    req.principal = { ...principal, audit };
  });
}
