import { originErrorKind, type Metrics } from '../lib/metrics.js';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Pool } from 'undici';
import type { Site } from './sites.js';

export interface ClientCertificate {
  verified: boolean;
  fingerprintSha256?: string;
  subject?: string;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) and what HTTP/2 forbids; never forwarded either way.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);
/**
 * Set by the edge only: a client's copy is dropped. Names are compared with `_` read as `-`,
 * since CGI/WSGI origins (and nginx with underscores_in_headers) read X_Client_Cert_Verified as
 * the same variable as X-Client-Cert-Verified.
 */
const EDGE_SET = new Set(['x-client-cert-verified', 'x-client-cert-fingerprint-sha256', 'x-client-cert-subject', 'cf-connecting-ip', 'x-forwarded-for', 'x-forwarded-proto']);
const isEdgeSet = (name: string) => EDGE_SET.has(name.includes('_') ? name.replace(/_/g, '-') : name);

/** Origin pools kept at most; the least recently used is closed (gracefully) past this. */
export const MAX_ORIGIN_POOLS = 256;
/** A pool unused this long is closed; its sockets have long been idle-closed by then. */
const POOL_IDLE_MS = 60_000;

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * Forwards requests to origins over keep-alive undici pools, one per origin host and SNI. Pools
 * are bounded in number and released when idle: `custom_origin_sni` is chosen by API users, so
 * the set of keys is theirs to grow.
 */
export class OriginProxy {
  private readonly pools = new Map<string, { pool: Pool; lastUsed: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly origin: { scheme: 'http' | 'https'; port: number },
    private readonly metrics: Pick<Metrics, 'originErrors'>,
  ) {
    this.sweeper = setInterval(() => this.closeIdle(Date.now() - POOL_IDLE_MS), POOL_IDLE_MS / 4);
    this.sweeper.unref();
  }

  get poolCount(): number {
    return this.pools.size;
  }

  /** Closes pools not used since `before` (in-flight requests finish first: close() waits). */
  closeIdle(before: number): void {
    for (const [key, entry] of this.pools) {
      if (entry.lastUsed < before) {
        this.pools.delete(key);
        void entry.pool.close().catch(() => undefined);
      }
    }
  }

  private pool(host: string, servername: string): Pool {
    const key = `${host}|${servername}`;
    let entry = this.pools.get(key);
    if (entry) {
      this.pools.delete(key); // re-inserted below: Map order is recency order
    } else {
      const url = `${this.origin.scheme}://${host.includes(':') ? `[${host}]` : host}:${this.origin.port}`;
      // Like Cloudflare's "Full" SSL mode: encrypted to the origin, origin certificate not validated.
      entry = { pool: new Pool(url, { connections: 64, connect: { servername, rejectUnauthorized: false }, keepAliveTimeout: 30_000 }), lastUsed: 0 };
      if (this.pools.size >= MAX_ORIGIN_POOLS) {
        const [oldest, evicted] = this.pools.entries().next().value!;
        this.pools.delete(oldest);
        void evicted.pool.close().catch(() => undefined);
      }
    }
    entry.lastUsed = Date.now();
    this.pools.set(key, entry);
    return entry.pool;
  }

  /**
   * Sends the request to the site's origin. `authority` is the Host the client addressed (already
   * checked to be one this connection serves), `path` the origin-form target.
   */
  async forward(req: Request, res: Response, site: Site, target: { authority: string; path: string }, remoteAddress: string, client: ClientCertificate | undefined): Promise<void> {
    if (!site.origin) {
      this.metrics.originErrors.inc({ kind: 'no_origin' });
      return plain(res, 502, `edgecert: no origin is configured for ${site.hostname}: set custom_origin_server on the custom hostname or a fallback origin on its zone.\n`);
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers as IncomingHttpHeaders)) {
      if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name) || isEdgeSet(name)) continue;
      headers[name] = value;
    }
    headers.host = target.authority;
    // The edge is the trust boundary: the origin learns the address the edge saw, nothing a client claims.
    headers['x-forwarded-for'] = remoteAddress;
    headers['x-forwarded-proto'] = 'https';
    headers['cf-connecting-ip'] = remoteAddress;
    if (client) {
      headers['x-client-cert-verified'] = client.verified ? 'SUCCESS' : 'NONE';
      if (client.fingerprintSha256) headers['x-client-cert-fingerprint-sha256'] = client.fingerprintSha256;
      if (client.subject) headers['x-client-cert-subject'] = client.subject;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    try {
      const upstream = await this.pool(site.origin.host, site.origin.servername).request({
        method: req.method as 'GET',
        path: target.path,
        headers,
        body: hasBody ? (req as NodeJS.ReadableStream as import('node:stream').Readable) : undefined,
      });
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      }
      res.writeHead(upstream.statusCode, out as never);
      // pipe(), not stream/promises pipeline(): that one builds an AbortController per call and
      // aborts it at the end (a DOMException per request, measurable on the keep-alive path).
      const body = upstream.body;
      body.once('error', () => res.destroy?.());
      res.once('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(res as NodeJS.WritableStream);
    } catch (err) {
      this.metrics.originErrors.inc({ kind: res.headersSent ? 'aborted' : originErrorKind(err) });
      if (!res.headersSent) {
        plain(res, 502, `edgecert: the origin ${site.origin.host} for ${site.hostname} could not be reached (${(err as Error).message}).\n`);
      } else {
        res.destroy?.();
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.pools.values()].map((e) => e.pool.close().catch(() => undefined)));
  }
}

export function plain(res: Response, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) } as never);
  res.end(text);
}
