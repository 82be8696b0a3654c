import tls from 'node:tls';
import https from 'node:https';
import http from 'node:http';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';

/** A real TLS client against the edge: what was negotiated, or the error that ended it. */
export interface Handshake {
  ok: boolean;
  error?: string;
  protocol?: string | null;
  alpn?: string | false | null;
  /** 'P-256' / 'RSA 2048' … of the leaf the edge chose. */
  key?: string;
  serial?: string;
  fingerprint256?: string;
  chainSubjects?: string[];
  authorized?: boolean;
}

export interface ClientOptions {
  servername?: string;
  ca: string;
  sigalgs?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  ALPNProtocols?: string[];
  cert?: string;
  key?: string;
}

export function handshake(address: string, opts: ClientOptions): Promise<Handshake> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ...opts, ...(opts.servername === undefined ? {} : { servername: opts.servername }) });
    const done = (h: Handshake) => {
      socket.destroy();
      resolve(h);
    };
    socket.setTimeout(5000, () => done({ ok: false, error: 'timeout' }));
    socket.once('error', (err) => done({ ok: false, error: err.message }));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      const chain: string[] = [];
      for (let c: tls.DetailedPeerCertificate | undefined = peer; c && chain.length < 5; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) {
        chain.push(String(c.subject?.CN ?? ''));
      }
      done({
        ok: true,
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        key: peer.asn1Curve ? (peer.nistCurve ?? peer.asn1Curve) : `RSA ${peer.bits}`,
        serial: peer.serialNumber,
        fingerprint256: peer.fingerprint256,
        chainSubjects: chain,
        authorized: socket.authorized,
      });
    });
  });
}

export interface EdgeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTPS request through the edge (a fresh connection unless an agent is given). */
export function request(
  address: string,
  opts: ClientOptions & { path?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: https.Agent },
): Promise<EdgeResponse> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        servername: opts.servername,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        ...(opts.sigalgs ? { sigalgs: opts.sigalgs } : {}),
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: { host: opts.servername ?? 'localhost', ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** `openssl s_client` output for a connection (used to see what the server asked for). */
export function opensslClient(address: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', address, ...args], { timeout: 10_000 }, (_err, stdout, stderr) =>
      resolve(stdout + stderr),
    );
    child.stdin?.end('Q\n');
  });
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}

/** A plain HTTP origin that echoes what it received (method, url, headers, body length and hash); `/slow/<ms>` answers after ms. */
export async function startEchoOrigin(): Promise<{ port: number; requests: number; close(): Promise<void>; server: http.Server }> {
  const { createHash } = await import('node:crypto');
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (c: Buffer) => {
      length += c.length;
      hash.update(c);
    });
    req.on('end', async () => {
      if (req.url?.startsWith('/slow/')) await new Promise((r) => setTimeout(r, Number(req.url!.slice('/slow/'.length))));
      if (req.url?.startsWith('/stream/')) {
        // Streams n KiB back in chunks.
        const n = Number(req.url.slice('/stream/'.length));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let sent = 0;
        const chunk = Buffer.alloc(1024, 'x');
        const pump = () => {
          while (sent < n) {
            sent++;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'echo' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length, sha256: hash.digest('hex') }));
    });
  });
  await new Promise<void>((r) => server.listen(0, r));
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return state.requests;
    },
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
