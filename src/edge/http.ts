import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppContext } from '../context.js';
import type { Config } from '../config.js';
import { domainNameProblem, normaliseHostname } from '../pki/hostname.js';
import { customHostnamesRepository } from '../resources/custom-hostnames/repository.js';
import { issuanceRepository } from '../resources/custom-hostnames/issuance-repository.js';

const ACME_CHALLENGE = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,128})$/;
const OWNERSHIP_CHALLENGE = /^\/\.well-known\/cf-custom-hostname-challenge\/([0-9a-f-]{36})$/;

/**
 * The edge's plain HTTP listener (EDGECERT_HTTP_LISTEN; port 80 in production):
 * - `/.well-known/acme-challenge/{token}`: the key authorization of an ACME HTTP-01 challenge,
 *   from the database, so any edge node answers for an order another node started;
 * - `/.well-known/cf-custom-hostname-challenge/{id}`: the hostname's ownership token
 *   (`ownership_verification_http`);
 * - anything else: a redirect to HTTPS for a hostname the edge serves, else 404.
 * Each answer is bound to the `Host` the request names: a token is only given for its hostname.
 */
export class HttpListener {
  private readonly server: Server;
  /** Open connections per client address (EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP, as on the TLS edge). */
  private readonly perIp = new Map<string, number>();
  readonly refused = { perIp: 0 };

  constructor(
    private readonly ctx: Pick<AppContext, 'store' | 'log'>,
    private readonly config: Pick<Config, 'httpListen' | 'timeouts' | 'edgeMaxConnections' | 'edgeMaxConnectionsPerIp'>,
  ) {
    const t = config.timeouts;
    const options = {
      maxHeaderSize: 8192,
      headersTimeout: t.headersMs,
      // Nothing here has a request body: a whole request takes no longer than its headers may.
      requestTimeout: t.headersMs,
      keepAliveTimeout: t.keepAliveMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.min(1000, t.headersMs),
    };
    this.server = createServer(options, (req, res) => {
      this.handle(req, res).catch((err) => {
        this.ctx.log.warn({ err }, 'HTTP listener: request failed');
        if (!res.headersSent) reply(res, 503, 'temporarily unavailable\n');
        else res.destroy();
      });
    });
    this.server.maxConnections = config.edgeMaxConnections;
    this.server.on('connection', (socket) => {
      const ip = socket.remoteAddress ?? '';
      const open = (this.perIp.get(ip) ?? 0) + 1;
      if (open > config.edgeMaxConnectionsPerIp) {
        this.refused.perIp++;
        socket.destroy();
        return;
      }
      this.perIp.set(ip, open);
      // Node's headers timeout starts with a request's first byte: a connection that sends
      // nothing would otherwise stay until the idle timeout.
      const silent = setTimeout(() => socket.destroy(), config.timeouts.headersMs);
      socket.once('data', () => clearTimeout(silent));
      socket.once('close', () => {
        clearTimeout(silent);
        const left = (this.perIp.get(ip) ?? 1) - 1;
        if (left <= 0) this.perIp.delete(ip);
        else this.perIp.set(ip, left);
      });
    });
    this.server.setTimeout(config.timeouts.idleMs, (socket) => socket.destroy());
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      // Closed once the answer is out, whatever the client keeps sending.
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      else socket.destroy();
    });
  }

  async start(): Promise<string> {
    const listen = this.config.httpListen!;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(listen.port, listen.host, () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = hostOf(req.headers.host);
    if (!host) return reply(res, 400, 'a Host header naming a hostname is required\n');
    const path = (req.url ?? '/').split('?')[0]!;
    const db = this.ctx.store.db;

    const acme = ACME_CHALLENGE.exec(path);
    if (acme) {
      const challenge = await issuanceRepository.challenge(db, acme[1]!);
      if (!challenge || challenge.hostname !== host) return reply(res, 404, 'no such challenge for this hostname\n');
      return reply(res, 200, challenge.key_authorization);
    }
    const ownership = OWNERSHIP_CHALLENGE.exec(path);
    if (ownership) {
      const row = await customHostnamesRepository.getById(db, ownership[1]!);
      if (!row || row.hostname !== host) return reply(res, 404, 'no such custom hostname\n');
      return reply(res, 200, row.http_token);
    }
    // Exact name first, then the one-label wildcard that covers it (as the edge's SNI lookup).
    const wildcard = host.includes('.') ? `*.${host.slice(host.indexOf('.') + 1)}` : undefined;
    const row = (await customHostnamesRepository.getByHostname(db, host)) ?? (wildcard ? await customHostnamesRepository.getByHostname(db, wildcard) : undefined);
    if (!row || row.ssl_status !== 'active') return reply(res, 404, 'this hostname is not served here over HTTPS\n');
    res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 301 : 308, { location: `https://${host}${req.url?.startsWith('/') ? req.url : '/'}`, 'content-length': 0 });
    res.end();
  }
}

/** The hostname a Host header names (port dropped, lowercased), or undefined if it names none. */
function hostOf(header: string | undefined): string | undefined {
  if (!header || header.length > 260) return undefined;
  const name = normaliseHostname(header.replace(/:\d{1,5}$/, ''));
  return name !== '' && domainNameProblem(name) === null ? name : undefined;
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
