import type { Clock } from './lib/clock.js';
import type { Ids } from './lib/ids.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import type { Store } from './storage/connect.js';
import type { KeyVault } from './storage/crypto.js';
import type { TrustStore } from './pki/trust.js';
import type { ValidatedCertificate } from './pki/validate.js';

/** What services need, built once in main.ts (or a test harness) and passed down. */
export interface AppContext {
  store: Store;
  clock: Clock;
  ids: Ids;
  vault: KeyVault;
  trust: TrustStore;
  /** Certificate validation on threads (EDGECERT_VALIDATION_THREADS); absent: on the event loop. */
  validation?: UploadValidator;
  log: Logger;
  /** This process's Prometheus metrics (GET /metrics). */
  metrics: Metrics;
  bootstrap: { token?: string; email?: string; apiKey?: string };
  /** Set once the default account exists (first start creates it). */
  defaultAccountId: string;
}

/** Checks uploads off the event loop: resources/custom-hostnames/validation-pool.ts. */
export interface UploadValidator {
  validatePairs(pairs: Array<{ custom_certificate?: string; custom_key?: string }>, hostname: string, now: Date): Promise<ValidatedCertificate[]>;
  close(): Promise<void>;
}
