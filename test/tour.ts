/**
 * `npm run tour`: the README's "Try it in five minutes", run as written. Every ```sh tour block is
 * taken from README.md (not a copy of it) and run, in order, in one bash on free loopback ports;
 * the ```text block after it is the output to expect: each of its lines must appear, in order,
 * with … standing for anything. Exits 0 when every step showed what the README says.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/postgres.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TIMEOUT_MS = 180_000;

export interface Step {
  script: string;
  expected: string[];
}

/** The tour's steps, from the README's fenced blocks. */
export function tourSteps(readme: string): Step[] {
  const blocks = [...readme.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: m[1]!.trim(), body: m[2]! }));
  const steps: Step[] = [];
  blocks.forEach((b, i) => {
    if (b.info !== 'sh tour') return;
    const next = blocks[i + 1];
    steps.push({ script: b.body, expected: next?.info === 'text' ? next.body.split('\n').filter((l) => l.trim() !== '') : [] });
  });
  return steps;
}

/** An expected line as a pattern: … is anything, the rest literal. */
const pattern = (line: string) => new RegExp('^' + line.trim().split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');

/** Each expected line matches an output line, in order; the first one that does not, if any. */
export function unmatched(expected: string[], output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trim());
  let at = 0;
  for (const want of expected) {
    const re = pattern(want);
    while (at < lines.length && !re.test(lines[at]!)) at++;
    if (at === lines.length) return want;
    at++;
  }
  return undefined;
}

export async function runTour(log: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<boolean> {
  const steps = tourSteps(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  if (steps.length === 0) throw new Error('README.md has no ```sh tour blocks');
  const work = mkdtempSync(path.join(tmpdir(), 'edgecert-tour-run-'));
  const marker = (i: number) => `@@edgecert-tour-step-${i}@@`;
  const script = steps.map((s, i) => `echo '${marker(i)}'\n${s.script}`).join('\n') + `\necho '${marker(steps.length)}'\n`;
  writeFileSync(path.join(work, 'tour.sh'), script);
  const env = {
    ...process.env,
    API: `127.0.0.1:${await freePort()}`,
    EDGE: `127.0.0.1:${await freePort()}`,
    HTTP: `127.0.0.1:${await freePort()}`,
    ORIGIN: String(await freePort()),
  };
  // Its own process group: whatever the steps leave running goes with it.
  const bash = spawn('bash', [path.join(work, 'tour.sh')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  bash.stdout.on('data', (d) => (out += d));
  bash.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => process.kill(-bash.pid!, 'SIGKILL'), TIMEOUT_MS);
  await new Promise((resolve) => bash.on('exit', resolve));
  clearTimeout(timer);
  try {
    process.kill(-bash.pid!, 'SIGKILL');
  } catch {
    /* nothing left */
  }
  let ok = true;
  steps.forEach((step, i) => {
    const start = out.indexOf(marker(i));
    const end = out.indexOf(marker(i + 1));
    const output = start < 0 ? '' : out.slice(start + marker(i).length, end < 0 ? undefined : end);
    const missing = start < 0 ? '(the step did not run)' : unmatched(step.expected, output);
    if (missing === undefined) {
      log(`step ${i + 1}: ok`);
      return;
    }
    ok = false;
    log(`step ${i + 1}: expected a line like "${missing}"; the step printed:\n${output.trim()}`);
  });
  // A tour that stopped before its last step leaves its scratch directory: remove it.
  const scratch = /working in (\S+)/.exec(out)?.[1];
  if (scratch && scratch.startsWith(tmpdir())) rmSync(scratch, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  if (!ok && err.trim()) log(`stderr:\n${err.trim().slice(-4000)}`);
  return ok;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = (await runTour()) ? 0 : 1;
}
