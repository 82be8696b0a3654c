/** Time is injected so expiry and status logic can be tested with a fixed clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** ISO 8601 with microseconds, the shape Cloudflare uses (`2022-11-22T17:32:30.467938Z`). */
export function isoTimestamp(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
