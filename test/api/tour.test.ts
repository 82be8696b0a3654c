import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runTour, tourSteps, unmatched } from '../tour.js';

/** The README's tour, run as written (test/tour.ts): the README cannot drift from the product. */
test('the README tour runs as written and shows what it says', { skip: process.env.EDGECERT_TEST_DIALECT === 'postgres' && 'SQLite pass only' }, async () => {
  const steps = tourSteps(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'));
  assert.ok(steps.length >= 8, `${steps.length} steps`);
  for (const [i, s] of steps.entries()) assert.ok(s.expected.length > 0, `step ${i + 1} shows its output`);
  const lines: string[] = [];
  const ok = await runTour((l) => lines.push(l));
  assert.ok(ok, lines.join('\n'));
});

test('the tour checker: lines in order, … for anything, a missing line named', () => {
  assert.equal(unmatched(['a…c', 'x'], 'abc\nzzz\nx\n'), undefined);
  assert.equal(unmatched(['x', 'a…c'], 'abc\nx\n'), 'a…c', 'order matters');
  assert.equal(unmatched(['HTTP 403'], 'HTTP 200\n'), 'HTTP 403');
  assert.equal(unmatched(['a.c'], 'abc'), 'a.c', 'only … is a wildcard');
});
