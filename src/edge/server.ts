import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as h2constants, createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { readServerName } from './client-hello.js';
import type { Config } from '../config.js';
import type { AppContext } from '../context.js';
import { HostnameIndex } from './hostname-index.js';
import { OriginProxy, plain, type ClientCertificate } from './proxy.js';
import { SiteCache, type Site, type TlsProfile } from './sites.js';
import { NONE } from '../lib/metrics.js';
import { EdgeSync } from './sync.js';
import { TicketKeyRing } from './ticket-keys.js';

const CONN = Symbol('edgecert.connection');

type EdgeConfig = Pick<Config, 'edgeListen' | 'originScheme' | 'originPort' | 'tlsCacheSize' | 'timeouts' | 'edgeMaxConnections' | 'edgeMaxConnectionsPerIp' | 'tlsResumption' | 'ticketKeyRotationMs' | 'changePollMs'>;
type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** What one accepted TCP connection is, from its first byte to its close. */
interface Connection {
  raw: Socket;
  ip: string;
  tls?: TLSSocket & { [CONN]?: Connection };
  /** Set once the ClientHello named a hostname we serve. */
  binding?: Binding;
  client?: ClientCertificate;
  h2?: ServerHttp2Session;
  /** HTTP/1.1 requests being answered (HTTP/2 streams are counted by their session). */
  inFlight: number;
  h2Streams: number;
  responses: Set<ServerResponse>;
  /** Its hostname's configuration changed: no new requests, close once the current ones finish. */
  retired: boolean;
}

/** The configuration a connection was opened under. */
interface Binding {
  site: Site;
  /** The SNI, lowercased: the custom hostname itself, or a name one label below a wildcard one. */
  servedName: string;
  profile: TlsProfile;
}

/**
 * The TLS edge (design §3.2). Node's SNICallback can only swap certificates, so the edge reads
 * the server name from the ClientHello itself (client-hello.ts), looks the name up, and wraps the
 * TCP socket in a TLSSocket built with that hostname's own options: both certificates, TLS
 * versions, ciphers, ALPN and — for hostnames associated with client CAs — a certificate request
 * naming them.
 *
 * A connection is bound to the name and configuration it was opened with: a request for another
 * authority is answered 421, and when the configuration changes the connection finishes what it
 * is doing and closes (the client reconnects under the new rules).
 */
export class Edge {
  readonly index = new HostnameIndex();
  readonly sites: SiteCache;
  readonly sync: EdgeSync;
  readonly proxy: OriginProxy;
  readonly tickets: TicketKeyRing | undefined;
  private readonly tcp: Server;
  private readonly http1;
  private readonly http2 = createHttp2Server({}, (req, res) => this.serve(req, res));
  private readonly connections = new Set<Connection>();
  private readonly byIp = new Map<string, Set<Connection>>();
  private readonly bySite = new Map<string, Set<Connection>>();
  /** Connections bound through a wildcard, by the name they serve: a new exact hostname takes that name over. */
  private readonly byWildcardName = new Map<string, Set<Connection>>();
  /** Connections refused or closed to make room (for tests and the stress script). */
  readonly refused = { perIp: 0, total: 0, evicted: 0 };

  constructor(
    private readonly ctx: AppContext,
    private readonly config: EdgeConfig,
  ) {
    const t = config.timeouts;
    this.tickets = config.tlsResumption ? new TicketKeyRing(ctx, config.ticketKeyRotationMs) : undefined;
    this.sites = new SiteCache(ctx, config.tlsCacheSize, this.tickets);
    this.sync = new EdgeSync(ctx, this.index, this.sites, {
      boundTo: (id) => this.bySite.has(id),
      boundInZone: (zoneId) => [...this.bySite.entries()].filter(([, set]) => zoneId === undefined || [...set].some((c) => c.binding?.site.zoneId === zoneId)).map(([id]) => id),
      reconcile: (id, site) => this.reconcile(id, site),
      nameTaken: (hostname, id) => this.nameTaken(hostname, id),
    }, config.changePollMs);
    this.proxy = new OriginProxy({ scheme: config.originScheme, port: config.originPort }, ctx.metrics);
    this.tcp = createNetServer((socket) => void this.accept(socket));
    // Node's own HTTP/1.1 timeouts: headers (from a request's first byte, or from the connection
    // for the first request), keep-alive between requests, and socket inactivity during one.
    this.http1 = createHttpServer(
      { headersTimeout: t.headersMs, requestTimeout: 0, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval: Math.min(1000, t.headersMs) },
      (req, res) => this.serve(req, res),
    );
    this.http1.timeout = t.idleMs;
    // The headers timeout is enforced by a check Node starts when its server emits 'listening'.
    // This server never listens (the edge hands it sockets), so it is started here.
    this.http1.emit('listening');
    this.http2.on('session', (session) => this.watchSession(session));
  }

  /** Loads the index, starts following changes, listens. Returns the edge's address. */
  async start(): Promise<string> {
    await this.tickets?.start();
    await this.sync.start();
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.config.edgeListen.port, this.config.edgeListen.host, () => resolve());
    });
    const a = this.tcp.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private async accept(socket: Socket): Promise<void> {
    const conn: Connection = { raw: socket, ip: socket.remoteAddress ?? '', inFlight: 0, h2Streams: 0, responses: new Set(), retired: false };
    socket.on('error', () => socket.destroy());
    if (!this.admit(conn)) {
      socket.destroy();
      return;
    }
    this.track(conn);
    socket.setNoDelay(true);
    // Each connection's handshake is counted once, by how it ended.
    let counted = false;
    const count = (result: string, keyType = NONE, tlsVersion = NONE) => {
      if (counted) return;
      counted = true;
      this.ctx.metrics.handshakes.inc({ result, key_type: keyType, tls_version: tlsVersion });
    };
    // The ClientHello and the handshake must both be done within the headers timeout.
    const timer = setTimeout(() => {
      count('timeout');
      socket.destroy();
    }, this.config.timeouts.headersMs);
    try {
      const serverName = await readServerName(socket);
      const servedName = serverName?.toLowerCase().replace(/\.$/, '');
      const entry = servedName ? this.index.lookup(servedName) : undefined;
      // Unknown or missing SNI: close before any certificate is sent.
      const site = entry ? await this.sites.get(entry.id) : null;
      if (!site || !servedName || socket.destroyed) {
        clearTimeout(timer);
        if (!socket.destroyed) count(servedName ? 'unknown_sni' : 'no_sni');
        socket.destroy();
        return;
      }
      const profile = site.profileFor(servedName);
      const tlsSocket = new TLSSocket(socket, {
        isServer: true,
        secureContext: profile.context,
        ALPNProtocols: site.alpn,
        requestCert: profile.requestCert,
        // Verified here, answered at the HTTP layer with a 403 that explains it.
        rejectUnauthorized: false,
      }) as TLSSocket & { [CONN]?: Connection };
      tlsSocket[CONN] = conn;
      conn.tls = tlsSocket;
      this.bind(conn, { site, servedName, profile });
      tlsSocket.on('error', (err) => {
        count(handshakeFailure(err));
        tlsSocket.destroy();
      });
      tlsSocket.once('close', () => clearTimeout(timer));
      tlsSocket.once('secure', () => {
        clearTimeout(timer);
        if (profile.requestCert) conn.client = clientCertificateOf(tlsSocket);
        // A connection without the client certificate its hostname requires only ever gets 403s.
        count(profile.requestCert && !conn.client?.verified ? 'client_certificate_refused' : 'ok', servedKeyType(tlsSocket, site.keyTypes), tlsSocket.getProtocol() ?? NONE);
        // A tls.Server clears this flag on 'secure'; a TLSSocket built by hand keeps it, and the
        // HTTP/2 session would wait for a 'secureConnect' that server sockets never emit.
        (tlsSocket as { secureConnecting?: boolean }).secureConnecting = false;
        if (conn.retired) return void tlsSocket.destroy();
        if (tlsSocket.alpnProtocol === 'h2') this.http2.emit('connection', tlsSocket);
        else this.http1.emit('connection', tlsSocket);
      });
    } catch {
      clearTimeout(timer);
      count('failed');
      socket.destroy();
    }
  }

  /**
   * Room for one more connection from `conn.ip`? One address holds at most the per-IP cap, so a
   * client hoarding sockets cannot starve the others; at the overall cap, an idle connection of
   * the address holding the most is closed to make room.
   */
  private admit(conn: Connection): boolean {
    if ((this.byIp.get(conn.ip)?.size ?? 0) >= this.config.edgeMaxConnectionsPerIp) {
      this.refused.perIp++;
      return false;
    }
    if (this.connections.size < this.config.edgeMaxConnections) return true;
    let busiest: Set<Connection> | undefined;
    for (const set of this.byIp.values()) if (!busiest || set.size > busiest.size) busiest = set;
    for (const victim of busiest ?? []) {
      if (victim.inFlight === 0 && victim.h2Streams === 0) {
        this.refused.evicted++;
        victim.raw.destroy();
        victim.tls?.destroy();
        this.untrack(victim);
        return true;
      }
    }
    this.refused.total++;
    return false;
  }

  private track(conn: Connection): void {
    this.connections.add(conn);
    let set = this.byIp.get(conn.ip);
    if (!set) this.byIp.set(conn.ip, (set = new Set()));
    set.add(conn);
    conn.raw.once('close', () => this.untrack(conn));
  }

  private bind(conn: Connection, binding: Binding): void {
    conn.binding = binding;
    addTo(this.bySite, binding.site.id, conn);
    if (binding.site.wildcard) addTo(this.byWildcardName, binding.servedName, conn);
  }

  private untrack(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    removeFrom(this.byIp, conn.ip, conn);
    if (conn.binding) {
      removeFrom(this.bySite, conn.binding.site.id, conn);
      if (conn.binding.site.wildcard) removeFrom(this.byWildcardName, conn.binding.servedName, conn);
    }
  }

  /** HTTP/2: idle sessions and streams time out; a session without streams is closed after the keep-alive timeout. */
  private watchSession(session: ServerHttp2Session): void {
    const conn = (session.socket as TLSSocket & { [CONN]?: Connection })[CONN];
    if (!conn) return void session.destroy();
    conn.h2 = session;
    const t = this.config.timeouts;
    session.setTimeout(t.idleMs, () => session.destroy());
    let keepAlive: NodeJS.Timeout | undefined;
    const armKeepAlive = () => {
      keepAlive = setTimeout(() => closeSession(session), t.keepAliveMs);
      keepAlive.unref();
    };
    armKeepAlive();
    session.on('stream', (stream) => {
      conn.h2Streams++;
      clearTimeout(keepAlive);
      stream.setTimeout(t.idleMs, () => stream.close(h2constants.NGHTTP2_CANCEL));
      stream.once('close', () => {
        if (--conn.h2Streams === 0 && !session.closed) armKeepAlive();
      });
    });
    session.once('close', () => clearTimeout(keepAlive));
    if (conn.retired) closeSession(session);
  }

  private serve(req: Request, res: Response): void {
    const conn = connectionOf(req);
    if (conn && req.httpVersionMajor !== 2) {
      const h1 = res as ServerResponse;
      conn.inFlight++;
      conn.responses.add(h1);
      if (conn.retired) h1.shouldKeepAlive = false;
      h1.once('close', () => {
        conn.inFlight--;
        conn.responses.delete(h1);
        if (conn.retired && conn.inFlight === 0) conn.tls?.end();
      });
    }
    this.handle(req, res, conn).catch((err) => {
      this.ctx.log.error({ err }, 'edge: request failed');
      if (!res.headersSent) plain(res, 500, 'edgecert: internal error.\n');
      else res.destroy?.();
    });
  }

  private async handle(req: Request, res: Response, conn: Connection | undefined): Promise<void> {
    const binding = conn?.binding;
    if (!conn || !binding) return plain(res, 421, 'edgecert: this connection is not bound to a custom hostname.\n');
    const { site, servedName, profile } = binding;
    if (conn.retired) {
      return plain(res, 421, `edgecert: the configuration of ${servedName} changed since this connection was opened; retry on a new connection.\n`);
    }
    const target = targetOf(req);
    if (!target) return plain(res, 400, 'edgecert: the request target is not a path or an absolute https URL.\n');
    const authority = target.host ?? servedName;
    if (!this.serves(binding, authority)) {
      return plain(res, 421, `edgecert: this connection was opened for ${servedName} and cannot serve ${authority.slice(0, 255)}; open a new connection with that name as the TLS server name (SNI).\n`);
    }
    if (profile.requestCert && !conn.client?.verified) {
      return plain(
        res,
        403,
        `edgecert: ${authority} requires a client certificate issued by one of its associated CAs; ${conn.client?.subject ? 'the one presented does not chain to them' : 'none was presented'}.\n`,
      );
    }
    // The origin sees the authority that was checked (the URL's, for an absolute-form target).
    await this.proxy.forward(req, res, site, { authority: target.authority ?? servedName, path: target.path }, conn.raw.remoteAddress ?? '', profile.requestCert ? conn.client : undefined);
  }

  /**
   * A request may address the connection's own name, or another name the same wildcard custom
   * hostname serves with the same client-certificate rule; anything else would borrow this
   * connection's TLS decisions (its missing client certificate, above all) for another name.
   */
  private serves(binding: Binding, authority: string): boolean {
    if (authority === binding.servedName) return true;
    if (!binding.site.wildcard) return false;
    if (this.index.lookup(authority)?.id !== binding.site.id) return false;
    return binding.site.profileFor(authority).key === binding.profile.key;
  }

  /** After a hostname changed (or went): connections opened under its old configuration retire. */
  private reconcile(id: string, site: Site | null): void {
    for (const conn of this.bySite.get(id) ?? []) {
      const b = conn.binding!;
      if (!site || site.version !== b.site.version || site.profileFor(b.servedName).key !== b.profile.key) this.retire(conn);
    }
  }

  /** A custom hostname now owns `hostname`: wildcard connections serving that name retire. */
  private nameTaken(hostname: string, id: string): void {
    for (const conn of this.byWildcardName.get(hostname) ?? []) if (conn.binding!.site.id !== id) this.retire(conn);
  }

  /** Finish the requests in flight, take no new ones, close (HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY). */
  private retire(conn: Connection): void {
    if (conn.retired) return;
    conn.retired = true;
    if (conn.h2) return closeSession(conn.h2);
    for (const res of conn.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    if (conn.inFlight === 0) conn.tls?.end() ?? conn.raw.destroy();
  }

  async close(): Promise<void> {
    this.tickets?.stop();
    await this.sync.stop();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    this.http1.closeIdleConnections();
    // HTTP/2: GOAWAY, letting open streams finish.
    for (const conn of this.connections) if (conn.h2) conn.h2.close();
    const deadline = setTimeout(() => {
      for (const c of this.connections) c.raw.destroy();
    }, 10_000);
    while ([...this.connections].some((c) => !c.raw.destroyed)) {
      this.http1.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
    }
    clearTimeout(deadline);
    // Node's headers-timeout check, started in the constructor.
    this.http1.close();
    await this.proxy.close();
  }
}

function connectionOf(req: Request): Connection | undefined {
  const socket = req.httpVersionMajor === 2 ? (req as Http2ServerRequest).stream.session?.socket : req.socket;
  return (socket as (TLSSocket & { [CONN]?: Connection }) | undefined)?.[CONN];
}

/**
 * The authority a request addresses and its origin-form path: HTTP/2's `:authority`, HTTP/1.1's
 * absolute-form target (which wins over Host, RFC 9112 §3.2.2), else Host. The host is
 * lowercased, without port or trailing dot. Null for a target that is neither.
 */
export function targetOf(req: Request): { host?: string; authority?: string; path: string } | null {
  let url = req.url ?? '/';
  let authority = (req.headers[':authority'] as string | undefined) ?? req.headers.host;
  if (!url.startsWith('/')) {
    if (url === '*' && req.method === 'OPTIONS') return { host: hostOf(authority), authority, path: '*' };
    const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
    if (!m) return null;
    authority = m[1]!.replace(/^[^@]*@/, '');
    url = m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`;
  }
  return { host: hostOf(authority), authority: authority || undefined, path: url };
}

function hostOf(authority: string | undefined): string | undefined {
  if (authority === undefined || authority === '') return undefined;
  const host = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d*$/, '');
  return host.toLowerCase().replace(/\.$/, '');
}

function closeSession(session: ServerHttp2Session): void {
  if (session.closed || session.destroyed) return;
  session.close();
  // Streams get as long as they need within the idle timeout; the GOAWAY is what matters.
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set?.delete(value) && set.size === 0) map.delete(key);
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

/**
 * Which of the site's certificates the handshake served, without getCertificate() (which builds
 * the whole certificate as an object: ~23 µs, 1.5 % of a handshake). One key type: that one. TLS
 * 1.2 names it in the cipher; in TLS 1.3 OpenSSL serves the certificate of the first shared
 * signature algorithm it has one for (exact for P-256 ECDSA keys, which are what is issued).
 */
function servedKeyType(socket: TLSSocket, keyTypes: string[]): string {
  if (keyTypes.length === 1) return keyTypes[0]!;
  const cipher = socket.getCipher()?.name ?? '';
  if (cipher.includes('ECDSA')) return 'ecdsa';
  if (cipher.includes('RSA')) return 'rsa';
  for (const sigalg of socket.getSharedSigalgs()) {
    if (sigalg.startsWith('ECDSA')) return 'ecdsa';
    if (sigalg.startsWith('RSA')) return 'rsa';
  }
  return NONE;
}

/** Why a handshake failed, from OpenSSL's reason. */
function handshakeFailure(err: Error & { code?: string }): string {
  const reason = `${err.code ?? ''} ${err.message}`;
  if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|WRONG_VERSION|unsupported protocol|version too low/i.test(reason)) return 'version_refused';
  if (/NO_SHARED_CIPHER|no shared cipher|NO_CIPHERS/i.test(reason)) return 'cipher_refused';
  return 'failed';
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
