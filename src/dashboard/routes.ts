import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { authenticate, hasPermission, type AuthSources, type Permission } from '../api/auth.js';
import { success } from '../api/envelope.js';

/** The dashboard's files, in the repository (served from memory: read once at start). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public/dashboard');
const FILES: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' };

/**
 * The browser must run only what edgecert serves, send the token only to edgecert, and never be
 * framed: a page that handles API tokens and private keys.
 */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The web dashboard at /dashboard, on the API's listener and process: static files that call
 * the same /client/v4 API with the token the user signs in with (kept in the browser's session
 * storage only), so a token sees and does in the dashboard exactly what it may through the API.
 * `GET /dashboard/session` tells the page what the token may do, to show only the actions it can take.
 */
export function dashboardRoutes(app: FastifyInstance, sources: AuthSources): void {
  const files = new Map(Object.keys(FILES).map((name) => [name, readFileSync(path.join(ROOT, name))]));
  const index = readFileSync(path.join(ROOT, 'index.html'));
  const page = (_req: unknown, reply: import('fastify').FastifyReply) => reply.headers(HEADERS).type('text/html; charset=utf-8').send(index);
  app.get('/dashboard', page);
  app.get('/dashboard/', page);
  for (const [name, body] of files) {
    app.get(`/dashboard/${name}`, (_req, reply) => reply.headers(HEADERS).type(FILES[name]!).send(body));
  }
  app.get('/dashboard/session', async (req, reply) => {
    const principal = await authenticate(req, sources);
    const all: Permission[] = ['zone:read', 'zone:edit', 'ssl:read', 'ssl:edit', 'account:read'];
    reply.headers({ 'cache-control': 'no-store' });
    return success({
      account_id: principal.accountId,
      zone_ids: principal.zoneIds,
      permissions: all.filter((p) => hasPermission(principal, p)),
    });
  });
}
