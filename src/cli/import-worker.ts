import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../api/errors.js';
import { systemClock } from '../lib/clock.js';
import { randomIds } from '../lib/ids.js';
import { TrustStore } from '../pki/trust.js';
import { prepareHostname } from '../resources/custom-hostnames/service.js';
import type { HostnameBody } from '../resources/custom-hostnames/input.js';

/**
 * One validation thread of `edgecert import`: the API's own checks and certificate rules
 * (prepareHostname), which are CPU only, on a core of their own. Nothing here touches the
 * database; the main thread writes.
 */
export type ImportJob = { n: number; body: unknown };
export type ImportResult =
  | { n: number; ok: true; prepared: ReturnType<typeof prepareHostname> }
  | { n: number; ok: false; errors: Array<{ code: number; message: string }> };

const { zoneId, trustCaFile } = workerData as { zoneId: string; trustCaFile?: string };
const ctx = { ids: randomIds, clock: systemClock, trust: TrustStore.load(trustCaFile) };

parentPort!.on('message', (jobs: ImportJob[]) => {
  const results: ImportResult[] = jobs.map(({ n, body }) => {
    try {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, [{ code: 1800, message: 'Invalid request: each line must be a JSON object: the body of POST /zones/{zone_id}/custom_hostnames' }]);
      return { n, ok: true, prepared: prepareHostname(ctx, zoneId, body as HostnameBody) };
    } catch (err) {
      if (err instanceof ApiError) return { n, ok: false, errors: err.errors.map(({ code, message }) => ({ code, message })) };
      return { n, ok: false, errors: [{ code: 1500, message: 'Internal error while checking this entry' }] };
    }
  });
  parentPort!.postMessage(results);
});
