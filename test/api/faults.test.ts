import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, runEdgecert } from '../helpers/process.js';
import { removeDir } from '../helpers/server.js';

/**
 * Wrong keys and broken storage (issue: safe to face the internet), through the real CLI: a
 * start whose master key cannot open the database exits 2 naming the key's origin, and a lost
 * key file is never silently replaced; a full stdout and a database file truncated under the
 * running process neither freeze nor crash it, and SIGTERM still exits 0.
 */
const TOKEN = 'f'.repeat(43);

/** Starts once (creating the database, its key check and a sealed managed-CA key), then stops. */
async function initialised(env: Record<string, string> = {}): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-faults-'));
  const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN, ...env });
  const url = (await p.waitFor(/API listening on (\S+)/))[1]!;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const account = (await (await fetch(`${url}/accounts`, { headers })).json()).result[0].id;
  const zone = (await (await fetch(`${url}/zones`, { method: 'POST', headers, body: JSON.stringify({ name: 'faults.example.com', account: { id: account } }) })).json()).result.id;
  const put = await fetch(`${url}/zones/${zone}/certificate_authorities/hostname_associations`, { method: 'PUT', headers, body: JSON.stringify({ hostnames: ['app.faults.example.com'] }) });
  assert.equal(put.status, 200, 'the managed CA (a sealed key) exists');
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
  return dataDir;
}

async function refusedStart(dataDir: string, env: Record<string, string>, names: RegExp) {
  const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN, ...env });
  assert.equal(await p.exited, 2, p.stdout() + p.stderr());
  const lines = p.stderr().trim().split('\n');
  assert.equal(lines.length, 1, p.stderr());
  assert.match(lines[0]!, names);
  assert.doesNotMatch(p.stdout(), /listening/);
}

test('another valid EDGECERT_MASTER_KEY: exit 2 naming the variable', async () => {
  const key = randomBytes(32).toString('base64');
  const dataDir = await initialised({ EDGECERT_MASTER_KEY: key });
  try {
    await refusedStart(dataDir, { EDGECERT_MASTER_KEY: randomBytes(32).toString('base64') }, /EDGECERT_MASTER_KEY.*not the master key/);
    // Without the variable, the key file (never written: the variable was used) is not generated either.
    await refusedStart(dataDir, {}, /master\.key.*missing/);
    assert.equal(existsSync(path.join(dataDir, 'master.key')), false);
  } finally {
    removeDir(dataDir);
  }
});

test('a bit-flipped or deleted key file: exit 2 naming the file, never a new key', async () => {
  const dataDir = await initialised();
  const file = path.join(dataDir, 'master.key');
  try {
    const original = readFileSync(file, 'utf8');
    const key = Buffer.from(original.trim(), 'base64');
    key[7]! ^= 0x10;
    writeFileSync(file, key.toString('base64') + '\n');
    await refusedStart(dataDir, {}, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*not the master key`));
    rmSync(file);
    await refusedStart(dataDir, {}, /master\.key.*missing.*sealed/);
    assert.equal(existsSync(file), false, 'no key was generated in its place');
    writeFileSync(file, original);
    const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN });
    await p.waitFor(/API listening/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, 'the right key starts');
  } finally {
    removeDir(dataDir);
  }
});

test('a database from before the key check: a sealed row proves the key, or refuses it', async () => {
  const dataDir = await initialised();
  try {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(dataDir, 'edgecert.db'));
    db.prepare('delete from master_key_checks').run();
    db.close();
    await refusedStart(dataDir, { EDGECERT_MASTER_KEY: randomBytes(32).toString('base64') }, /EDGECERT_MASTER_KEY.*not the master key/);
    const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN });
    await p.waitFor(/API listening/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
    const again = new Database(path.join(dataDir, 'edgecert.db'));
    assert.equal((again.prepare('select count(*) as n from master_key_checks').get() as { n: number }).n, 1, 'the check is written once the key is proven');
    again.close();
  } finally {
    removeDir(dataDir);
  }
});

test('stdout on a full disk (/dev/full): the server starts, answers, logs nothing to it, and SIGTERM exits 0', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-faults-'));
  const { openSync, closeSync } = await import('node:fs');
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('../helpers/process.js');
  const full = openSync('/dev/full', 'w');
  try {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--api-listen', `127.0.0.1:${port}`, '--edge-listen', '127.0.0.1:0', '--log-level', 'debug'], {
      env: { PATH: process.env.PATH ?? '', EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN, EDGECERT_HTTP_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', full, 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const base = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      up = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(up, `the server came up: ${stderr}`);
    // Every request is logged (debug): each log write fails with ENOSPC.
    const headers = { authorization: `Bearer ${TOKEN}` };
    for (let i = 0; i < 50; i++) assert.equal((await fetch(`${base}/client/v4/zones`, { headers })).status, 200);
    const started = Date.now();
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.ok(Date.now() - started < 2000, 'not frozen in a write loop');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
  } finally {
    closeSync(full);
    removeDir(dataDir);
  }
});

test('the data directory made immutable under a running server: reads still answer, writes fail with an error, SIGTERM exits 0 (no SIGBUS)', async (t) => {
  const dataDir = await initialised();
  const { execFileSync } = await import('node:child_process');
  const chattr = (flag: string) => execFileSync('chattr', ['-R', flag, dataDir], { stdio: 'pipe' });
  try {
    chattr('+i');
    chattr('-i');
  } catch (err) {
    t.skip(`chattr +i is not supported here (${(err as Error).message.split('\n')[0]})`);
    removeDir(dataDir);
    return;
  }
  const p = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: TOKEN });
  try {
    const url = (await p.waitFor(/API listening on (\S+)/))[1]!;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    assert.equal((await fetch(`${url}/zones`, { headers })).status, 200);
    chattr('+i');
    assert.equal((await fetch(`${url}/zones`, { headers })).status, 200, 'reads are answered');
    const account = (await (await fetch(`${url}/accounts`, { headers })).json()).result[0].id;
    const write = await fetch(`${url}/zones`, { method: 'POST', headers, body: JSON.stringify({ name: 'frozen.example.com', account: { id: account } }) });
    assert.ok(write.status >= 500 && write.status < 600, `a write fails as a server-side fault: ${write.status}`);
    p.child.kill('SIGTERM');
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) resolve({ code: p.child.exitCode, signal: p.child.signalCode });
      else p.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    assert.deepEqual(exit, { code: 0, signal: null }, p.stderr());
  } finally {
    p.child.kill('SIGKILL');
    chattr('-i');
    removeDir(dataDir);
  }
});
