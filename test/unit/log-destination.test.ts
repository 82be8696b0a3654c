import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LogDestination } from '../../src/lib/log-destination.js';

const settle = () => new Promise((r) => setTimeout(r, 50));

test('lines reach the file in order; flushSync writes what is queued', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-log-'));
  const fd = openSync(path.join(dir, 'log'), 'w');
  try {
    const d = new LogDestination(fd);
    for (let i = 0; i < 1000; i++) d.write(`line ${i}\n`);
    d.flushSync();
    await settle();
    const lines = readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(lines.slice(0, 3), ['line 0', 'line 1', 'line 2']);
    assert.equal(lines.at(-1), 'line 999');
    assert.equal(d.droppedLines, 0);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flushSync while a write is in progress: nothing lost or reordered (the line in flight may appear twice)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgecert-log-'));
  const fd = openSync(path.join(dir, 'log'), 'w');
  try {
    const d = new LogDestination(fd);
    d.write('first\n');
    await new Promise((r) => setImmediate(r)); // its write has been handed to the thread pool
    for (let i = 0; i < 100; i++) d.write(`later ${i}\n`);
    d.flushSync();
    await settle();
    const lines = readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n');
    const distinct = lines.filter((l, i) => lines.indexOf(l) === i);
    assert.deepEqual(distinct, ['first', ...Array.from({ length: 100 }, (_, i) => `later ${i}`)]);
    assert.ok(lines.length <= 102);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a destination that refuses writes (/dev/full: ENOSPC): lines are dropped and counted, nothing throws or blocks', async () => {
  const fd = openSync('/dev/full', 'w');
  try {
    const d = new LogDestination(fd, 64 * 1024);
    for (let i = 0; i < 10_000; i++) assert.equal(d.write(`{"msg":"line ${i}"}\n`), true);
    d.flushSync();
    await settle();
    assert.equal(d.droppedLines, 10_000);
  } finally {
    closeSync(fd);
  }
});
