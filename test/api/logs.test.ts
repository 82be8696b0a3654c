import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, runEdgecert } from '../helpers/process.js';
import { removeDir } from '../helpers/server.js';

/**
 * What `edgecert serve` prints: JSON lines (pino) when stdout is not a terminal, readable lines on
 * a terminal, EDGECERT_LOG_FORMAT to choose; the first-start token unmistakable in both.
 */
const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'edgecert-logs-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach(removeDir));
const TOKEN_LINE = /API token \(shown once, keep it\): ([A-Za-z0-9_-]{40,})/;

test('stdout that is not a terminal: every line is JSON, the token a record of its own', { skip: process.env.EDGECERT_TEST_DIALECT === 'postgres' && 'SQLite only' }, async () => {
  // '' is unset: the automatic choice.
  const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir(), EDGECERT_LOG_FORMAT: '', EDGECERT_EDGE_WORKERS: '1' });
  try {
    await p.waitFor(/edge listening on/);
    const url = /API listening on (http:\/\/[^"\s]+)\/client\/v4/.exec(p.stdout())![1]!;
    await fetch(`${url}/client/v4/zones`); // a request: a log line of its own (401)
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
  const lines = p.stdout().split('\n').filter((l) => l !== '');
  const records = lines.map((l) => {
    try {
      return JSON.parse(l) as { level: number; msg: string; first_start?: boolean };
    } catch {
      return assert.fail(`not a JSON line: ${l}`);
    }
  });
  const token = records.filter((r) => TOKEN_LINE.test(r.msg));
  assert.equal(token.length, 1);
  assert.equal(token[0]!.first_start, true);
  assert.ok(records.some((r) => r.msg === 'shutting down'));
});

test('EDGECERT_LOG_FORMAT=pretty: readable lines, the token on a line of its own, logs without JSON', { skip: process.env.EDGECERT_TEST_DIALECT === 'postgres' && 'SQLite only' }, async () => {
  const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir(), EDGECERT_LOG_FORMAT: 'pretty', EDGECERT_EDGE_WORKERS: '1' });
  try {
    await p.waitFor(/edge listening on/);
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
  const lines = p.stdout().split('\n').filter((l) => l !== '');
  assert.ok(lines.some((l) => /^edgecert: API token \(shown once, keep it\): [A-Za-z0-9_-]{40,}$/.test(l)), p.stdout());
  assert.ok(lines.some((l) => /INFO.*shutting down/.test(l)), 'log records as readable lines');
  assert.ok(lines.every((l) => !l.startsWith('{')), 'no JSON');
});

const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;
test('on a terminal (a pseudo-terminal from script(1)) the automatic choice is readable lines', { skip: (!hasScript && 'script(1) is not installed') || (process.env.EDGECERT_TEST_DIALECT === 'postgres' && 'SQLite only') }, async () => {
  const env = { PATH: process.env.PATH ?? '', EDGECERT_DATA_DIR: dataDir(), EDGECERT_API_LISTEN: '127.0.0.1:0', EDGECERT_EDGE_LISTEN: '127.0.0.1:0', EDGECERT_HTTP_LISTEN: '127.0.0.1:0', EDGECERT_EDGE_WORKERS: '1' };
  const child = spawn('script', ['-qfec', `${process.execPath} ${BIN} serve`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const deadline = Date.now() + 15_000;
  while (!/edge listening on/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // script(1) ends the session it started: the server with it.
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
  assert.match(out, /^edgecert: API token \(shown once, keep it\): [A-Za-z0-9_-]{40,}\r?$/m);
  assert.doesNotMatch(out, /^\{"level"/m);
});
