import type { FastifyRequest } from 'fastify';
import { ApiError, Errors, type ErrorItem } from './errors.js';
import { constantTimeEqual, hashSecret } from '../storage/crypto.js';

export const PERMISSIONS = ['zone:read', 'zone:edit', 'ssl:read', 'ssl:edit', 'account:read'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Who is calling and what they may touch. */
export interface Principal {
  kind: 'token' | 'bootstrap_token' | 'api_key';
  /** Token id (32 hex) for token callers. */
  tokenId: string | null;
  accountId: string;
  /** null: every zone of the account. */
  zoneIds: string[] | null;
  permissions: ReadonlySet<Permission>;
  /** Set for a write request: what its audit log entry records (api/audit.ts). */
  audit?: unknown;
}

export interface StoredToken {
  id: string;
  account_id: string;
  zone_ids: string | null;
  permissions: string;
  status: string;
  expires_on: string | null;
}

export interface AuthSources {
  findTokenByHash(hash: string): Promise<StoredToken | undefined>;
  defaultAccountId(): string;
  bootstrapToken: string | undefined;
  bootstrapEmail: string | undefined;
  bootstrapApiKey: string | undefined;
  now(): Date;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,512})$/;
const EMAIL = /^[^\s@]{1,128}@[^\s@]{1,253}$/;
const API_KEY = /^[A-Za-z0-9]{32,128}$/;

const ALL_PERMISSIONS: ReadonlySet<Permission> = new Set(PERMISSIONS);

/** Authenticates one request (design §1.2/§1.3): Bearer token, or X-Auth-Email + X-Auth-Key. */
export async function authenticate(req: FastifyRequest, sources: AuthSources): Promise<Principal> {
  const authorization = req.headers.authorization;
  const email = req.headers['x-auth-email'];
  const key = req.headers['x-auth-key'];
  if (authorization === undefined && email === undefined && key === undefined) throw Errors.missingCredentials();

  if (authorization !== undefined) {
    const m = typeof authorization === 'string' ? BEARER.exec(authorization) : null;
    if (!m) throw Errors.invalidHeaders([Errors.chainAuthorization]);
    return authenticateToken(m[1]!, sources);
  }

  const chain: ErrorItem[] = [];
  if (typeof email !== 'string' || !EMAIL.test(email)) chain.push(Errors.chainEmail);
  if (typeof key !== 'string' || !API_KEY.test(key)) chain.push(Errors.chainKey);
  if (chain.length > 0) throw Errors.invalidHeaders(chain);
  const emailOk =
    sources.bootstrapEmail !== undefined && constantTimeEqual((email as string).toLowerCase(), sources.bootstrapEmail);
  const keyOk = sources.bootstrapApiKey !== undefined && constantTimeEqual(key as string, sources.bootstrapApiKey);
  if (!(emailOk && keyOk)) throw new ApiError(403, [{ code: 9103, message: 'Unknown X-Auth-Key or X-Auth-Email' }]);
  return { kind: 'api_key', tokenId: null, accountId: sources.defaultAccountId(), zoneIds: null, permissions: ALL_PERMISSIONS };
}

/** The bootstrap token's id (part of its hash), hashed once rather than on every request. */
let bootstrapTokenId: { token: string; id: string } | undefined;
function idOfBootstrapToken(token: string): string {
  if (bootstrapTokenId?.token !== token) bootstrapTokenId = { token, id: hashSecret(token).slice(0, 32) };
  return bootstrapTokenId.id;
}

async function authenticateToken(token: string, sources: AuthSources): Promise<Principal> {
  if (sources.bootstrapToken !== undefined && constantTimeEqual(token, sources.bootstrapToken)) {
    return {
      kind: 'bootstrap_token',
      tokenId: idOfBootstrapToken(sources.bootstrapToken),
      accountId: sources.defaultAccountId(),
      zoneIds: null,
      permissions: ALL_PERMISSIONS,
    };
  }
  // Looked up by SHA-256 of the token: a timing difference can only reveal bits of a hash.
  const stored = await sources.findTokenByHash(hashSecret(token));
  if (!stored || stored.status !== 'active') throw Errors.invalidToken();
  if (stored.expires_on !== null && new Date(stored.expires_on) <= sources.now()) throw Errors.invalidToken();
  return {
    kind: 'token',
    tokenId: stored.id,
    accountId: stored.account_id,
    zoneIds: stored.zone_ids === null ? null : (JSON.parse(stored.zone_ids) as string[]),
    permissions: new Set(JSON.parse(stored.permissions) as Permission[]),
  };
}

/** `x:edit` implies `x:read`. */
export function hasPermission(principal: Principal, needed: Permission): boolean {
  if (principal.permissions.has(needed)) return true;
  if (needed.endsWith(':read')) return principal.permissions.has(needed.replace(':read', ':edit') as Permission);
  return false;
}

/** Throws 403/10000 unless the caller holds `needed` for this account (and zone, when given). */
export function authorize(principal: Principal, needed: Permission, scope: { accountId: string; zoneId?: string }): void {
  if (!hasPermission(principal, needed)) throw Errors.forbidden();
  if (principal.accountId !== scope.accountId) throw Errors.forbidden();
  if (principal.zoneIds !== null) {
    if (scope.zoneId === undefined || !principal.zoneIds.includes(scope.zoneId)) throw Errors.forbidden();
  }
}

/** Zone-scoped tokens are refused on a zone outside their list before the zone is even looked up. */
/**
 * A zone-scoped call on a zone that exists: the credential holds one of `permission` (the first it
 * holds counts) in the zone's account, and a zone-scoped token lists the zone.
 */
export function authorizeZone(principal: Principal, permission: Permission | Permission[], zone: { zoneId: string; accountId: string }): void {
  const needed = Array.isArray(permission) ? permission : [permission];
  const granted = needed.find((p) => hasPermission(principal, p)) ?? needed[0]!;
  authorize(principal, granted, zone);
}

export function mayTouchZone(principal: Principal, zoneId: string): boolean {
  return principal.zoneIds === null || principal.zoneIds.includes(zoneId);
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}
