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
// Set by the edge only: a client cannot forge them.
const EDGE_SET = new Set(['x-client-cert-verified', 'x-client-cert-fingerprint-sha256', 'x-client-cert-subject', 'cf-connecting-ip', 'x-forwarded-proto']);

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Forwards requests to origins over keep-alive undici pools, one per origin. */
export class OriginProxy {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly origin: { scheme: 'http' | 'https'; port: number }) {}

  private pool(host: string, servername: string): Pool {
    const key = `${host}|${servername}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const url = `${this.origin.scheme}://${host.includes(':') ? `[${host}]` : host}:${this.origin.port}`;
      // Like Cloudflare's "Full" SSL mode: encrypted to the origin, origin certificate not validated.
      pool = new Pool(url, { connections: 64, connect: { servername, rejectUnauthorized: false }, keepAliveTimeout: 30_000 });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async forward(req: Request, res: Response, site: Site, remoteAddress: string, client: ClientCertificate | undefined): Promise<void> {
    if (!site.origin) {
      return plain(res, 502, `edgecert: no origin is configured for ${site.hostname}: set custom_origin_server on the custom hostname or a fallback origin on its zone.\n`);
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers as IncomingHttpHeaders)) {
      if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name) || EDGE_SET.has(name)) continue;
      headers[name] = value;
    }
    headers.host = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? site.hostname;
    const xff = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${remoteAddress}` : remoteAddress;
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
        path: req.url ?? '/',
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
      if (!res.headersSent) {
        plain(res, 502, `edgecert: the origin ${site.origin.host} for ${site.hostname} could not be reached (${(err as Error).message}).\n`);
      } else {
        res.destroy?.();
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }
}

export function plain(res: Response, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) } as never);
  res.end(text);
}
