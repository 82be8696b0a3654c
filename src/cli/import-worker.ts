import { parentPort, workerData } from 'node:worker_threads';
import { Ajv } from 'ajv';
import { ApiError, Errors } from '../api/errors.js';
import { AJV_OPTIONS, schemaError } from '../api/validate.js';
import { systemClock } from '../lib/clock.js';
import { randomIds } from '../lib/ids.js';
import { TrustStore } from '../pki/trust.js';
import { prepareHostname } from '../resources/custom-hostnames/service.js';
import { HostnameBodySchema, type HostnameBody } from '../resources/custom-hostnames/input.js';

/**
 * One validation thread of `edgecert import`: an entry's text goes through what a POST to the
 * API goes through — JSON parsing, the route's body schema (the same Ajv options), the create's
 * checks and certificate rules (prepareHostname) — so a refusal is the API's own answer. CPU
 * only, on a core of its own; the main thread writes. Text, not parsed values, crosses threads:
 * a deeply nested value is fine for JSON.parse but overflows the stack of postMessage's cloning.
 */
/** An entry: its line number (or directory entry) and its text, a POST body. */
export type ImportJob = { n: number; entry?: string; text: string };
export type ImportResult =
  | { n: number; entry?: string; ok: true; prepared: ReturnType<typeof prepareHostname> }
  | { n: number; entry?: string; ok: false; hostname: string | null; errors: Array<{ code: number; message: string }> };

const { zoneId, trustCaFile } = workerData as { zoneId: string; trustCaFile?: string };
const ctx = { ids: randomIds, clock: systemClock, trust: TrustStore.load(trustCaFile) };
const checkBody = new Ajv(AJV_OPTIONS).compile(HostnameBodySchema);

function check(text: string): ReturnType<typeof prepareHostname> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw Errors.invalidJson((err as Error).message);
  }
  if (!checkBody(body)) throw schemaError('body', checkBody.errors);
  return prepareHostname(ctx, zoneId, body as HostnameBody);
}

/** The hostname an entry names, for the report (bounded: it is echoed back). */
function hostnameIn(text: string): string | null {
  const m = /"hostname"\s*:\s*"([^"\\]{1,253})"/.exec(text.slice(0, 4096));
  return m ? m[1]! : null;
}

parentPort!.on('message', (jobs: ImportJob[]) => {
  const results: ImportResult[] = jobs.map(({ n, entry, text }) => {
    try {
      return { n, entry, ok: true, prepared: check(text) };
    } catch (err) {
      const errors = err instanceof ApiError ? err.errors : Errors.internal().errors;
      return { n, entry, ok: false, hostname: hostnameIn(text), errors: errors.map(({ code, message }) => ({ code, message })) };
    }
  });
  parentPort!.postMessage(results);
});
