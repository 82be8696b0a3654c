import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Measured {
  ops: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Runs `op` from `concurrency` loops for `seconds`, after a warm-up; latencies per call. */
export async function load(op: (i: number) => Promise<void>, opts: { seconds: number; concurrency: number; warmup?: number }): Promise<Measured> {
  let i = 0;
  const warmEnd = Date.now() + (opts.warmup ?? 1) * 1000;
  await Promise.all(Array.from({ length: opts.concurrency }, async () => { while (Date.now() < warmEnd) await op(i++); }));
  const latencies: number[] = [];
  const start = process.hrtime.bigint();
  const end = Date.now() + opts.seconds * 1000;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (Date.now() < end) {
        const t = process.hrtime.bigint();
        await op(i++);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, seconds, perSecond: latencies.length / seconds, p50ms: quantile(latencies, 0.5), p99ms: quantile(latencies, 0.99) };
}

/** A synchronous loop: operations per second of `op` on this thread. */
export function loop(op: (i: number) => void, seconds: number): Measured {
  for (let i = 0; i < 200; i++) op(i);
  const latencies: number[] = [];
  const start = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  let i = 0;
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    op(i++);
    latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, seconds: total, perSecond: latencies.length / total, p50ms: quantile(latencies, 0.5), p99ms: quantile(latencies, 0.99) };
}

export const fmt = (m: Measured) => `${m.perSecond.toFixed(0).padStart(7)} /s   p50 ${m.p50ms.toFixed(2)} ms   p99 ${m.p99ms.toFixed(2)} ms`;

/** Every line printed during a run, for the Markdown report. */
const printed: string[] = [];
export function say(line: string): void {
  printed.push(line);
  console.log(line);
}

/** Writes `<name>-<time>.json` (the figures) and `.md` (what was printed), returns the JSON path. */
export function saveResults(name: string, data: unknown): string {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${base}.json`, JSON.stringify(data, null, 2) + '\n');
  writeFileSync(`${base}.md`, `# edgecert bench: ${name}\n\n${new Date().toISOString()}, Node ${process.version}\n\n\`\`\`\n${printed.join('\n')}\n\`\`\`\n`);
  printed.length = 0;
  return `${base}.json`;
}

/** Pins a process and all its threads to `cores` (a core, or a list such as "0-1"); false where taskset is missing. */
export function pin(pid: number, cores: number | string): boolean {
  try {
    execFileSync('taskset', ['-a', '-cp', String(cores), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU seconds (user + system) a process has used so far, or one of its threads (`thread`: a
 * thread id; the main thread's is the pid), from /proc (Linux); NaN once it is gone.
 */
export function cpuSeconds(pid: number, thread?: number): number {
  try {
    const fields = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}
