import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VARIABLES } from '../../src/config.js';

/** docs/deploy.md stays true: its unit passes systemd-analyze, its environment file names real variables. */
const doc = readFileSync(path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../docs/deploy.md'), 'utf8');
const blocks = (lang: string) => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const hasSystemd = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;

test('the systemd unit of docs/deploy.md passes systemd-analyze verify without a warning', { skip: !hasSystemd && 'systemd-analyze is not installed' }, () => {
  const unit = blocks('ini')[0] ?? '';
  assert.ok(unit.includes('[Service]'), 'the unit is in docs/deploy.md');
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-unit-'));
  try {
    const file = path.join(dir, 'edgecert.service');
    writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // verify exits 0 even for unknown keys or bad values: each is a line naming the file.
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(file) || /edgecert\.service/.test(l));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(complaints, []);
    for (const needed of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'User=edgecert']) assert.ok(unit.includes(needed), needed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every EDGECERT_ variable docs/deploy.md sets exists', () => {
  const named = new Set([...doc.matchAll(/^#?(EDGECERT_[A-Z0-9_]+)=/gm)].map((m) => m[1]!));
  assert.ok(named.size >= 5);
  for (const v of named) assert.ok((VARIABLES as readonly string[]).includes(v), `${v} is not a configuration variable`);
});
