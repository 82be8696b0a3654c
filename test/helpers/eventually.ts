import assert from 'node:assert/strict';

/**
 * Retries `check` until `accept` holds: for effects that arrive asynchronously (changes reaching
 * an edge). Fails after `ms` with the last value; this is a bound, not a timing assertion.
 */
export async function eventually<T>(check: () => Promise<T>, accept: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (accept(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
