/**
 * `npm run bench -- api|edge|hostile|reads|import|ops|all`. Every figure is reported next to a baseline measured in the
 * same run (these machines are noisy); results are also written to bench/results/.
 */
const which = process.argv[2] ?? 'all';
const known = ['api', 'edge', 'hostile', 'reads', 'import', 'ops', 'all'];
if (!known.includes(which)) {
  console.error(`usage: npm run bench -- ${known.join('|')}`);
  process.exit(2);
}
if (which === 'api' || which === 'all') await (await import('./api.js')).benchApi();
if (which === 'edge' || which === 'all') await (await import('./edge.js')).benchEdge();
if (which === 'reads' || which === 'all') await (await import('./reads.js')).benchReads();
if (which === 'import' || which === 'all') await (await import('./import.js')).benchImport();
if (which === 'ops' || which === 'all') await (await import('./ops.js')).benchOps();
if (which === 'hostile' || which === 'all') await (await import('./hostile.js')).benchHostile();
