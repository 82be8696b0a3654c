import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Principal } from './auth.js';

/** The API write a transaction belongs to, from the request that made it. */
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
  recorded: boolean;
}

const scope = new AsyncLocalStorage<AuditScope>();

/** A service tells the audit log what the resource was before its write (where it has read it anyway). */
export function noteOldValue(value: unknown): void {
  const current = scope.getStore();
  if (current && current.old === undefined) current.old = value;
}

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

/** The API write the running code belongs to, if any (resources/audit-logs/recorder.ts records it). */
export const currentAuditScope = (): AuditScope | undefined => scope.getStore();

/** Opens an audit scope around each write request (after authentication), for its transaction to find. */
export function openAuditScopes(api: FastifyInstance): void {
  api.addHook('preHandler', (req, _reply, done) => {
    if (!(req.method in ACTIONS) || !req.principal) return done();
    scope.run(
      {
        principal: req.principal,
        ip: req.ip,
        method: req.method,
        route: req.routeOptions.url ?? req.url,
        params: (req.params ?? {}) as Record<string, string>,
        body: req.body,
        requestId: String(req.id),
        recorded: false,
      },
      done,
    );
  });
}
