import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './postgres.js';

/**
 * A real ACME server for the issuance tests (issue 22): Debian's `pebble`, with
 * `pebble-challtestsrv` as its DNS resolver answering every name with 127.0.0.1, so that Pebble
 * validates HTTP-01 challenges against edgecert's plain HTTP listener on `httpPort`. Pebble's
 * HTTPS listener gets a certificate from a throw-away CA (`acmeCaFile`: what edgecert's ACME
 * client must trust); the certificates it issues chain to `rootPem`, fetched from its management
 * interface (random at each start).
 */
export { freePort };

export interface Pebble {
  directoryUrl: string;
  /** The CA of Pebble's own HTTPS listener (EDGECERT_ACME_CA_FILE). */
  acmeCaFile: string;
  /** The root that issued certificates chain to (EDGECERT_TRUST_CA_FILE, and clients' trust). */
  rootPem: string;
  /** Where Pebble connects for HTTP-01: edgecert's EDGECERT_HTTP_LISTEN. */
  httpPort: number;
  /** Points `host` at other addresses (e.g. one nothing listens on: a challenge not served). */
  setAddress(host: string, ipv4: string): Promise<void>;
  logs(): string;
  close(): void;
}

export const hasPebble = (): boolean => {
  try {
    execFileSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

function get(url: string, ca: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: body === undefined ? 'GET' : 'POST', ca, servername: 'localhost', timeout: 5000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function startPebble(opts: { httpPort?: number; env?: Record<string, string> } = {}): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-pebble-'));
  const file = (name: string) => path.join(dir, name);
  // Pebble's HTTPS listener: a CA and a certificate for localhost / 127.0.0.1.
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=pebble listener CA']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('listener.key'), '-out', file('listener.csr'), '-subj', '/CN=localhost']);
  writeFileSync(file('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', file('listener.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('listener.pem'), '-days', '2', '-extfile', file('ext.cnf')]);

  const [listen, management, dns, dnsManagement] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const httpPort = opts.httpPort ?? (await freePort());
  writeFileSync(
    file('pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: file('listener.pem'),
        privateKey: file('listener.key'),
        httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let output = '';
  const children: ChildProcess[] = [];
  const run = (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    children.push(child);
  };
  run('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagement}`]);
  // No random validation delays, no injected bad nonces: tests as fast and as repeatable as Pebble allows.
  run('pebble', ['-config', file('pebble.json'), '-dnsserver', `127.0.0.1:${dns}`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...opts.env });
  const ca = readFileSync(file('ca.pem'), 'utf8');
  const close = () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    for (;;) {
      const ok = await get(`https://127.0.0.1:${listen}/dir`, ca).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() - started > 15_000) throw new Error(`pebble did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const root = await get(`https://127.0.0.1:${management}/roots/0`, ca);
    if (root.status !== 200) throw new Error(`pebble root: ${root.status}`);
    return {
      directoryUrl: `https://127.0.0.1:${listen}/dir`,
      acmeCaFile: file('ca.pem'),
      rootPem: root.body,
      httpPort,
      async setAddress(host, ipv4) {
        // add-a adds to the name's addresses: cleared first, so the name has exactly this one.
        const fqdn = host.endsWith('.') ? host : `${host}.`;
        for (const [action, body] of [['clear-a', { host: fqdn }], ['add-a', { host: fqdn, addresses: [ipv4] }]] as const) {
          const res = await fetch(`http://127.0.0.1:${dnsManagement}/${action}`, { method: 'POST', body: JSON.stringify(body) });
          if (!res.ok) throw new Error(`challtestsrv ${action}: ${res.status}`);
        }
      },
      logs: () => output,
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
