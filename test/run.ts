/**
 * `npm test` after the type checks: every test on the embedded SQLite, then the storage, API
 * and edge tests again on PostgreSQL. With EDGECERT_TEST_DATABASE_URL (a server's maintenance
 * database URL) that server is used; otherwise a throw-away cluster is started here and removed
 * at the end. Each test server gets a database of its own.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { startCluster, type Cluster } from './helpers/postgres.js';

const ALL = ['test/unit/*.test.ts', 'test/api/*.test.ts', 'test/edge/*.test.ts'];
// process.test.ts drives the CLI on data directories (SQLite by design): SQLite pass only.
const ON_POSTGRES = ['test/api/foundation.test.ts', 'test/api/custom-hostnames.test.ts', 'test/api/certificate-rules.test.ts', 'test/api/certificate-packs.test.ts', 'test/api/mtls.test.ts', 'test/api/postgres.test.ts', 'test/api/fuzz.test.ts', 'test/api/hostile-input.test.ts', 'test/api/import.test.ts', 'test/edge/edge.test.ts', 'test/edge/hardening.test.ts', 'test/edge/resumption.test.ts', 'test/edge/acme.test.ts', 'test/api/backup.test.ts', 'test/api/rotation.test.ts', 'test/api/alerts.test.ts', 'test/api/audit.test.ts', 'test/api/audit-hostile.test.ts'];

function run(label: string, files: string[], env: Record<string, string>): Promise<number> {
  console.log(`\n=== ${label} ===`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
      shell: false,
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** `dir/*.test.ts` → the files (Node 20's test runner does not expand globs itself). */
const expand = (patterns: string[]) =>
  patterns.flatMap((p) => {
    const star = p.indexOf('*');
    if (star < 0) return [p];
    const dir = p.slice(0, p.lastIndexOf('/', star));
    const suffix = p.slice(star + 1);
    return readdirSync(dir).filter((f) => f.endsWith(suffix)).sort().map((f) => `${dir}/${f}`);
  });

async function main(): Promise<number> {
  const files = expand(ALL);
  const sqlite = await run('SQLite', files, { EDGECERT_TEST_DIALECT: 'sqlite' });
  let cluster: Cluster | undefined;
  let adminUrl = process.env.EDGECERT_TEST_DATABASE_URL;
  try {
    if (!adminUrl) {
      const started = Date.now();
      cluster = await startCluster();
      adminUrl = cluster.url;
      console.log(`\nstarted a throw-away PostgreSQL cluster in ${Date.now() - started} ms`);
    }
    const postgres = await run('PostgreSQL', ON_POSTGRES, { EDGECERT_TEST_DIALECT: 'postgres', EDGECERT_TEST_DATABASE_URL: adminUrl });
    return sqlite || postgres;
  } finally {
    cluster?.stop();
  }
}

process.exitCode = await main();
