import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../../api/errors.js';
import { TrustStore } from '../../pki/trust.js';
import { validatePairs } from './pack.js';
import type { ValidationJob, ValidationResult } from './validation-pool.js';

/**
 * One certificate-validation thread of an API process (validation-pool.ts): the rules of an
 * upload (chain, key, strength, hostname coverage, trust) for the pairs it is sent, against
 * the same trust store, at the instant the request was received. CPU only; nothing is stored
 * here and nothing is logged.
 */
const { trustCaFile } = workerData as { trustCaFile?: string };
const trust = TrustStore.load(trustCaFile);

parentPort!.on('message', ({ id, pairs, hostname, now }: ValidationJob) => {
  let result: ValidationResult;
  try {
    result = { id, ok: true, uploads: validatePairs({ trust, clock: { now: () => new Date(now) } }, pairs, hostname) };
  } catch (err) {
    result = err instanceof ApiError
      ? { id, ok: false, status: err.status, errors: err.errors, headers: err.headers }
      : { id, ok: false, failure: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(result);
});
