import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestServer, removeDir } from '../test/helpers/server.js';
import { makeTestPki } from '../test/helpers/pki.js';
import { runEdgecert } from '../test/helpers/process.js';
import { saveResults, say } from './lib.js';

/**
 * `npm run bench -- import`: `edgecert import` of BENCH_IMPORT_HOSTNAMES (default 5000) NDJSON
 * entries with an RSA + ECDSA bundle each into a fresh SQLite database, unpinned (its
 * validation threads take every core): creates per second, as the tool reports them.
 */
export async function benchImport(): Promise<void> {
  const n = Number(process.env.BENCH_IMPORT_HOSTNAMES ?? 5000);
  const pki = await makeTestPki();
  const s = await startTestServer({ trustPem: pki.trustPem });
  try {
    const zoneId = (await s.client.zones.create({ name: 'import-bench.com', account: { id: s.accountId } })).id;
    const [rsa, ecdsa] = [await pki.leaf({ hosts: ['*.imp.test'], keyType: 'rsa' }), await pki.leaf({ hosts: ['*.imp.test'], keyType: 'ecdsa' })];
    const bundle = [rsa, ecdsa].map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem }));
    const file = path.join(s.dataDir, 'hostnames.ndjson');
    writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify({ hostname: `h${i}.imp.test`, ssl: { custom_cert_bundle: bundle } })).join('\n') + '\n');
    await s.close();
    const run = runEdgecert(['import', '--zone', zoneId, file], { EDGECERT_DATA_DIR: s.dataDir, EDGECERT_TRUST_CA_FILE: path.join(s.dataDir, 'test-trust.pem') });
    const code = await run.exited;
    const summary = run.stderr().trim().split('\n').pop() ?? '';
    say(`import of ${n} hostnames with RSA + ECDSA packs: exit ${code}; ${summary.replace(/^edgecert import: /, '')} (goal ≥ 400 creates/s)`);
    const rate = Number(/\((\d+) creates\/s\)/.exec(summary)?.[1] ?? NaN);
    say(`results: ${saveResults('import', { hostnames: n, createsPerSecond: rate, summary })}`);
  } finally {
    removeDir(s.dataDir);
  }
}
