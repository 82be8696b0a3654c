import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/edgecert.js');

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first match of `re` on stdout (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

/** Runs the built `edgecert` binary (dist/, built by `npm test` first) as a user would. */
export function runEdgecert(args: string[], env: Record<string, string>, nodeArgs: string[] = []): Spawned {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    // Tests run side by side: the plain HTTP listener on a free port unless the test picks one.
    // Readable lines, as a person reads them (the tests wait for them); test/api/logs.test.ts covers JSON.
    env: { PATH: process.env.PATH ?? '', EDGECERT_HTTP_LISTEN: '127.0.0.1:0', EDGECERT_LOG_FORMAT: 'pretty', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const tick = () => {
          const m = out.match(re);
          if (m) return resolve(m);
          if (child.exitCode !== null) return reject(new Error(`edgecert exited (${child.exitCode}): ${out}\n${err}`));
          if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${re}: ${out}\n${err}`));
          setTimeout(tick, 25);
        };
        tick();
      });
    },
  };
}

const LOCK_HOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'lock-holder.ts');

/**
 * Another process takes a transaction's lock on one row (and, on SQLite, the database's write
 * lock) for `ms`, and deletes the row before it commits when `thenDelete`; resolves once it holds
 * the lock. `released` resolves with the time it committed.
 */
export async function holdRowLock(databaseUrl: string, table: string, id: string, ms: number, opts: { thenDelete?: boolean } = {}): Promise<{ released: Promise<number> }> {
  const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, databaseUrl, table, id, String(ms), ...(opts.thenDelete ? ['delete'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const released = new Promise<number>((resolve, reject) => {
    holder.on('exit', (code) => {
      const at = /released (\d+)/.exec(out);
      if (code === 0 && at) resolve(Number(at[1]));
      else reject(new Error(`lock holder exited ${code}: ${out}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('locked')) resolve();
    });
    released.catch(reject);
  });
  return { released };
}

/** A loopback port free a moment ago (for a server whose address must be known before it prints it). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
