import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { readServerName } from './client-hello.js';
import type { Config } from '../config.js';
import type { AppContext } from '../context.js';
import { HostnameIndex } from './hostname-index.js';
import { OriginProxy, plain, type ClientCertificate } from './proxy.js';
import { SiteCache, type Site } from './sites.js';
import { EdgeSync } from './sync.js';

const SITE = Symbol('edgecert.site');
const CLIENT = Symbol('edgecert.clientCertificate');
const HELLO_TIMEOUT_MS = 10_000;

type EdgeSocket = TLSSocket & { [SITE]?: Site; [CLIENT]?: ClientCertificate };

/**
 * The TLS edge (design §3.2). Node's SNICallback can only swap certificates, so the edge reads
 * the server name from the ClientHello itself (client-hello.ts), looks the name up, and wraps the TCP socket in a TLSSocket built with
 * that hostname's own options: both certificates, TLS versions, ciphers, ALPN and — for
 * hostnames associated with client CAs — a certificate request naming them.
 */
export class Edge {
  readonly index = new HostnameIndex();
  readonly sites: SiteCache;
  readonly sync: EdgeSync;
  private readonly proxy: OriginProxy;
  private readonly tcp: Server;
  private readonly http1 = createHttpServer((req, res) => this.serve(req, res));
  private readonly http2 = createHttp2Server({}, (req, res) => this.serve(req, res));
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<import('node:http2').ServerHttp2Session>();

  constructor(
    private readonly ctx: AppContext,
    private readonly config: Pick<Config, 'edgeListen' | 'originScheme' | 'originPort' | 'tlsCacheSize'>,
  ) {
    this.sites = new SiteCache(ctx, config.tlsCacheSize);
    this.sync = new EdgeSync(ctx, this.index, this.sites);
    this.proxy = new OriginProxy({ scheme: config.originScheme, port: config.originPort });
    this.tcp = createNetServer((socket) => void this.accept(socket));
    this.http1.keepAliveTimeout = 30_000;
    this.http2.on('session', (session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
  }

  /** Loads the index, starts following changes, listens. Returns the edge's address. */
  async start(): Promise<string> {
    await this.sync.start();
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.config.edgeListen.port, this.config.edgeListen.host, () => resolve());
    });
    const a = this.tcp.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  private async accept(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    try {
      const serverName = await readServerName(socket);
      const entry = serverName ? this.index.lookup(serverName) : undefined;
      // Unknown or missing SNI: close before any certificate is sent.
      const site = entry ? await this.sites.get(entry.id) : null;
      if (!site || socket.destroyed) {
        socket.destroy();
        return;
      }
      const tlsSocket = new TLSSocket(socket, {
        isServer: true,
        secureContext: site.context,
        ALPNProtocols: site.alpn,
        requestCert: site.requestCert,
        // Verified here, answered at the HTTP layer with a 403 that explains it.
        rejectUnauthorized: false,
      }) as EdgeSocket;
      tlsSocket[SITE] = site;
      tlsSocket.on('error', () => tlsSocket.destroy());
      tlsSocket.once('secure', () => {
        clearTimeout(timer);
        if (site.requestCert) tlsSocket[CLIENT] = clientCertificateOf(tlsSocket);
        // A tls.Server clears this flag on 'secure'; a TLSSocket built by hand keeps it, and the
        // HTTP/2 session would wait for a 'secureConnect' that server sockets never emit.
        (tlsSocket as { secureConnecting?: boolean }).secureConnecting = false;
        if (tlsSocket.alpnProtocol === 'h2') this.http2.emit('connection', tlsSocket);
        else this.http1.emit('connection', tlsSocket);
      });
    } catch {
      clearTimeout(timer);
      socket.destroy();
    }
  }

  private serve(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    this.handle(req, res).catch((err) => {
      this.ctx.log.error({ err }, 'edge: request failed');
      if (!res.headersSent) plain(res, 500, 'edgecert: internal error.\n');
      else res.destroy?.();
    });
  }

  private async handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<void> {
    const socket = (req.httpVersionMajor === 2 ? (req as Http2ServerRequest).stream.session?.socket : req.socket) as EdgeSocket | undefined;
    const site = socket?.[SITE];
    if (!site) return plain(res, 421, 'edgecert: this connection is not bound to a custom hostname.\n');
    const client = socket[CLIENT];
    if (site.requestCert && !client?.verified) {
      return plain(
        res,
        403,
        `edgecert: ${site.hostname} requires a client certificate issued by one of its associated CAs; ${client?.subject ? 'the one presented does not chain to them' : 'none was presented'}.\n`,
      );
    }
    await this.proxy.forward(req, res, site, socket.remoteAddress ?? '', site.requestCert ? client : undefined);
  }

  async close(): Promise<void> {
    await this.sync.stop();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    this.http1.closeIdleConnections();
    // HTTP/2: GOAWAY, letting open streams finish.
    for (const session of this.sessions) session.close();
    const deadline = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 10_000);
    while (this.sockets.size > 0 && [...this.sockets].some((s) => !s.destroyed)) {
      this.http1.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
    }
    clearTimeout(deadline);
    await this.proxy.close();
  }
}

/**
 * OpenSSL's verdict on the client's chain (checked against the hostname's CAs during the
 * handshake). A tls.Server copies it into `socket.authorized`; a TLSSocket built by hand never
 * does, so it is read where Node reads it from: the TLS handle's verifyError(). If that internal
 * ever goes away, every client certificate counts as unverified (fail closed).
 */
function opensslVerified(socket: TLSSocket): boolean {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return false;
  return handle.verifyError() === null;
}

function clientCertificateOf(socket: TLSSocket): ClientCertificate {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return { verified: false };
  const subject = Object.entries(peer.subject ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
  return {
    verified: opensslVerified(socket),
    fingerprintSha256: peer.fingerprint256?.replace(/:/g, '').toLowerCase(),
    subject,
  };
}
