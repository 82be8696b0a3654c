import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Cloudflare from 'cloudflare';
import { freePort, runEdgecert } from '../helpers/process.js';
import { removeDir } from '../helpers/server.js';

test('first start prints one usable token; restart keeps data and prints none; SIGTERM exits 0', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-proc-'));
  try {
    const env = { EDGECERT_DATA_DIR: dataDir, EDGECERT_API_LISTEN: '127.0.0.1:0', EDGECERT_EDGE_LISTEN: '127.0.0.1:0' };
    const first = runEdgecert(['serve'], env);
    const token = (await first.waitFor(/API token \(shown once, keep it\): (\S+)/))[1]!;
    const url = (await first.waitFor(/API listening on (\S+)/))[1]!;
    assert.equal((await fetch(url.replace('/client/v4', '/healthz'))).status, 200);
    const client = new Cloudflare({ apiToken: token, baseURL: url, maxRetries: 0 });
    const account = (await client.accounts.list()).result[0]!;
    const zone = await client.zones.create({ name: 'restart.example.com', account: { id: account.id } });
    assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.ok(!first.stdout().includes('"authorization"'));

    const second = runEdgecert(['serve'], env);
    const url2 = (await second.waitFor(/API listening on (\S+)/))[1]!;
    assert.ok(!second.stdout().includes('API token'), 'a second start prints no token');
    const client2 = new Cloudflare({ apiToken: token, baseURL: url2, maxRetries: 0 });
    assert.equal((await client2.zones.get({ zone_id: zone.id })).name, 'restart.example.com');
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
    assert.ok(readdirSync(dataDir).includes('edgecert.db'));
  } finally {
    removeDir(dataDir);
  }
});

test('graceful shutdown lets an in-flight request finish', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-proc-'));
  try {
    const token = 'g'.repeat(43);
    const port = await freePort();
    const p = runEdgecert(['serve', '--api-listen', `127.0.0.1:${port}`, '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: token });
    const url = (await p.waitFor(/API listening on (\S+)/))[1]!;
    const client = new Cloudflare({ apiToken: token, baseURL: url, maxRetries: 0 });
    const accountId = (await client.accounts.list()).result[0]!.id;
    // A slow upload: headers now, body a little later, SIGTERM in between.
    const body = JSON.stringify({ name: 'inflight.example.com', account: { id: accountId } });
    const { request } = await import('node:http');
    const done = new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/client/v4/zones', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        p.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 200);
    });
    const status = await done;
    assert.equal(status, 200, 'the in-flight request completed, not cut');
    assert.equal(await p.exited, 0);
    // ...and its write is there after a restart.
    const again = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: dataDir, EDGECERT_BOOTSTRAP_TOKEN: token });
    const url2 = (await again.waitFor(/API listening on (\S+)/))[1]!;
    const zones = await new Cloudflare({ apiToken: token, baseURL: url2, maxRetries: 0 }).zones.list({ name: 'inflight.example.com' });
    assert.equal(zones.result.length, 1);
    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
  } finally {
    removeDir(dataDir);
  }
});

test('invalid configuration exits 2 with one line naming the variable', async () => {
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{ EDGECERT_API_LISTEN: 'nonsense' }, [], /EDGECERT_API_LISTEN/],
    [{ EDGECERT_MASTER_KEY: 'dG9vIHNob3J0' }, [], /EDGECERT_MASTER_KEY/],
    [{}, ['--origin-port', '99999'], /EDGECERT_ORIGIN_PORT/],
    [{ EDGECERT_LOG_LEVEL: 'loud' }, [], /EDGECERT_LOG_LEVEL/],
    [{ EDGECERT_BOOTSTRAP_EMAIL: 'a@b.co' }, [], /EDGECERT_BOOTSTRAP_API_KEY/],
    [{}, ['--no-such-flag', 'x'], /--no-such-flag/],
  ];
  for (const [env, args, re] of cases) {
    const p = runEdgecert(['serve', ...args], { EDGECERT_DATA_DIR: path.join(tmpdir(), 'edgecert-never-created'), ...env });
    assert.equal(await p.exited, 2, JSON.stringify(env) + args.join(' '));
    const lines = p.stderr().trim().split('\n');
    assert.equal(lines.length, 1, p.stderr());
    assert.match(lines[0]!, re);
  }
});

test('edgecert token create prints a scoped token; edgecert migrate is idempotent', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgecert-proc-'));
  try {
    const env = { EDGECERT_DATA_DIR: dataDir };
    const m1 = runEdgecert(['migrate'], env);
    assert.equal(await m1.exited, 0);
    assert.match(m1.stdout(), /applied 001_foundation/);
    const m2 = runEdgecert(['migrate'], env);
    assert.equal(await m2.exited, 0);
    assert.match(m2.stdout(), /up to date/);
    const t = runEdgecert(['token', 'create', '--name', 'ci', '--permission', 'zone:read', '--permission', 'ssl:edit'], env);
    assert.equal(await t.exited, 0, t.stderr());
    const token = t.stdout().trim();
    assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
    const bad = runEdgecert(['token', 'create', '--name', 'x', '--permission', 'root'], env);
    assert.equal(await bad.exited, 2);
    const serve = runEdgecert(['serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0'], env);
    const url = (await serve.waitFor(/API listening on (\S+)/))[1]!;
    const client = new Cloudflare({ apiToken: token, baseURL: url, maxRetries: 0 });
    assert.equal((await client.user.tokens.verify()).status, 'active');
    await assert.rejects(client.zones.create({ name: 'x.example.com', account: { id: '0'.repeat(32) } }), (e: any) => e.status === 403);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  } finally {
    removeDir(dataDir);
  }
});
