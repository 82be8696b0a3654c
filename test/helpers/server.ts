import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Cloudflare from 'cloudflare';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { createDatabase } from './postgres.js';
import { runEdgecert } from './process.js';

export interface TestServer {
  running: Running;
  url: string;
  baseURL: string;
  token: string;
  accountId: string;
  dataDir: string;
  /** The database in use: sqlite:… or postgres://… */
  databaseUrl: string;
  logs: string[];
  client: Cloudflare;
  clientFor(token: string): Cloudflare;
  /** Raw fetch against /client/v4 with the bootstrap token unless headers say otherwise. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
  /** Close and start again on the same data directory (and database). */
  restart(): Promise<TestServer>;
}

export const newBootstrapToken = () => randomBytes(32).toString('base64url');

export const onPostgres = () => process.env.EDGECERT_TEST_DIALECT === 'postgres';

export async function startTestServer(
  opts: { trustPem?: string; dataDir?: string; env?: Record<string, string>; bootstrapToken?: string; databaseUrl?: string } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'edgecert-test-'));
  const token = opts.bootstrapToken ?? newBootstrapToken();
  const env: Record<string, string> = {
    EDGECERT_DATA_DIR: dataDir,
    EDGECERT_API_LISTEN: '127.0.0.1:0',
    EDGECERT_EDGE_LISTEN: '127.0.0.1:0',
    EDGECERT_HTTP_LISTEN: '127.0.0.1:0',
    EDGECERT_BOOTSTRAP_TOKEN: token,
    EDGECERT_LOG_LEVEL: 'info',
    ...opts.env,
  };
  if (opts.trustPem) {
    const file = path.join(dataDir, 'test-trust.pem');
    writeFileSync(file, opts.trustPem);
    env.EDGECERT_TRUST_CA_FILE = file;
  }
  // The PostgreSQL pass (test/run.ts): a database of its own per server, kept across restart().
  if (!env.EDGECERT_DATABASE_URL && process.env.EDGECERT_TEST_DIALECT === 'postgres') {
    env.EDGECERT_DATABASE_URL = opts.databaseUrl ?? (await createDatabase(process.env.EDGECERT_TEST_DATABASE_URL!));
  }
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const running = await startServer(loadConfig(env), { log: sink });
  const url = running.apiUrl!;
  const baseURL = `${url}/client/v4`;
  const clientFor = (t: string) => new Cloudflare({ apiToken: t, baseURL, maxRetries: 0 });
  const server: TestServer = {
    running,
    url,
    baseURL,
    token,
    accountId: running.ctx.defaultAccountId,
    dataDir,
    databaseUrl: running.ctx.store.dialect === 'postgres' ? env.EDGECERT_DATABASE_URL! : `sqlite:${path.join(dataDir, 'edgecert.db')}`,
    logs,
    client: clientFor(token),
    clientFor,
    async api(method, p, body, headers) {
      const res = await fetch(baseURL + p, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep text */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    close: async () => {
      await running.close();
    },
    async restart() {
      await running.close();
      return startTestServer({ ...opts, dataDir, bootstrapToken: token, databaseUrl: env.EDGECERT_DATABASE_URL });
    },
  };
  return server;
}

export function removeDir(dir: string) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A second API node: an `edgecert serve --role api` process on the test server's data directory
 * and database. Races between nodes need it, since within one process the connection's mutex
 * serialises the requests.
 */
export async function startSecondApiNode(s: TestServer): Promise<{ url: string; stop(): Promise<void> }> {
  const node = runEdgecert(['serve', '--role', 'api', '--api-listen', '127.0.0.1:0'], {
    EDGECERT_DATA_DIR: s.dataDir,
    EDGECERT_DATABASE_URL: s.databaseUrl,
    EDGECERT_BOOTSTRAP_TOKEN: s.token,
    EDGECERT_LOG_LEVEL: 'warn',
  });
  const url = (await node.waitFor(/API listening on (\S+)\/client\/v4/))[1]!;
  return {
    url,
    async stop() {
      node.child.kill('SIGTERM');
      await node.exited;
    },
  };
}
