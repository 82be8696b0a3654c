import { randomUUID } from 'node:crypto';
import { hostname as machineName } from 'node:os';
import type { AppContext } from '../context.js';
import { isoTimestamp } from '../lib/clock.js';
import { watchedCertificates, type WatchedCertificate } from '../storage/expiry.js';
import { alertRepository } from './alert-repository.js';
import type { ExpiryAlertsTable } from '../storage/schema.js';

/** Days before `expires_on` at which an alert goes out; 0 is "has expired". */
export const THRESHOLDS = [30, 14, 7, 1, 0] as const;
const DAY_MS = 86_400_000;
/** How long after a certificate's expiry its alerts are kept (and it is still watched). */
const HISTORY_MS = 90 * DAY_MS;
const CLAIM_MS = 60_000;
const MAX_BACKOFF_MS = 3_600_000;
/** How often pending alerts are retried between checks. */
const RETRY_TICK_MS = 5_000;
/** A webhook that takes longer has failed (and is retried). */
const TIMEOUT_MS = 10_000;

export interface AlertConfig {
  webhook: string;
  intervalMs: number;
}

/**
 * Certificate expiry alerts (EDGECERT_ALERT_WEBHOOK): at start and every EDGECERT_ALERT_INTERVAL
 * every watched certificate (custom hostname certificates and mTLS CAs) is compared with the
 * thresholds; a crossing is recorded once in the database (`expiry_alerts`, keyed by certificate,
 * its expiry and the threshold, so a renewed certificate is watched anew), then POSTed by the node
 * that claims it, retried with backoff until the receiver answers 2xx. Crossing several thresholds
 * at once (a first start, a long outage) sends the most urgent one only.
 */
export class ExpiryAlerts {
  readonly owner = `${machineName()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private checkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly config: AlertConfig,
  ) {}

  start(): void {
    const cycle = (check: boolean) => {
      if (this.stopped || this.running) return;
      this.running = (check ? this.check() : Promise.resolve())
        .then(() => this.deliver())
        .catch((err) => this.ctx.log.warn({ err }, 'expiry alerts: a check failed'))
        .finally(() => (this.running = undefined));
    };
    this.checkTimer = setInterval(() => cycle(true), this.config.intervalMs);
    this.retryTimer = setInterval(() => cycle(false), Math.min(RETRY_TICK_MS, this.config.intervalMs));
    this.checkTimer.unref();
    this.retryTimer.unref();
    cycle(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.checkTimer);
    clearInterval(this.retryTimer);
    await this.running;
  }

  /** Records the thresholds each certificate has crossed since the last check. */
  async check(): Promise<void> {
    const now = this.ctx.clock.now();
    const nowText = isoTimestamp(now);
    const rows: ExpiryAlertsTable[] = [];
    for (const certificate of await watchedCertificates(this.ctx.store.db)) {
      const left = Date.parse(certificate.expiresOn) - now.getTime();
      // Expired longer than the alerts are kept: it had its alert, whose row is pruned; not again.
      if (left < -HISTORY_MS) continue;
      const crossed = THRESHOLDS.filter((days) => left <= days * DAY_MS);
      if (crossed.length === 0) continue;
      const urgent = Math.min(...crossed);
      for (const days of crossed) {
        rows.push({
          certificate_id: certificate.certificateId,
          expires_on: certificate.expiresOn,
          threshold_days: days,
          kind: certificate.kind,
          payload: JSON.stringify(payloadOf(certificate, days, left, nowText)),
          // A less urgent threshold crossed at the same time is not news any more.
          state: days === urgent ? 'pending' : 'superseded',
          attempts: 0,
          next_attempt_at: nowText,
          claimed_by: null,
          claimed_until: null,
          last_error: null,
          created_at: nowText,
          sent_at: null,
        });
      }
    }
    // Most rows exist already (insert-or-nothing): a few hundred per transaction, not one each.
    for (let i = 0; i < rows.length; i += 500) {
      const batch = rows.slice(i, i + 500);
      await this.ctx.store.write(null, async (trx) => {
        for (const row of batch) await alertRepository.insert(trx, row);
      });
    }
    await this.ctx.store.write(null, (trx) => alertRepository.pruneBefore(trx, isoTimestamp(new Date(now.getTime() - HISTORY_MS))));
  }

  /** POSTs the pending alerts this node can claim. */
  async deliver(): Promise<void> {
    const now = this.ctx.clock.now();
    for (const alert of await alertRepository.due(this.ctx.store.db, isoTimestamp(now), 100)) {
      if (this.stopped) return;
      const claimed = await this.ctx.store.write(null, (trx) => alertRepository.claim(trx, alert, this.owner, isoTimestamp(now), isoTimestamp(new Date(now.getTime() + CLAIM_MS))));
      if (!claimed) continue;
      const error = await this.post(alert.payload);
      const at = isoTimestamp(this.ctx.clock.now());
      if (!error) {
        this.ctx.metrics.expiryAlerts.inc({ result: 'sent' });
        await this.ctx.store.write(null, (trx) => alertRepository.finish(trx, alert, { state: 'sent', sent_at: at, attempts: alert.attempts + 1, last_error: null }));
        continue;
      }
      const attempts = alert.attempts + 1;
      const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts, 20)) * (0.75 + Math.random() / 2);
      this.ctx.metrics.expiryAlerts.inc({ result: 'failed' });
      this.ctx.log.warn({ certificateId: alert.certificate_id, thresholdDays: alert.threshold_days, attempts, error, retryInMs: Math.round(delay) }, 'expiry alert: the webhook failed; retrying');
      await this.ctx.store.write(null, (trx) =>
        alertRepository.finish(trx, alert, { attempts, last_error: error, next_attempt_at: isoTimestamp(new Date(this.ctx.clock.now().getTime() + delay)) }),
      );
    }
  }

  /** undefined when the receiver took it (2xx), else why not. */
  private async post(payload: string): Promise<string | undefined> {
    try {
      const res = await fetch(this.config.webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'edgecert expiry alerts' },
        body: payload,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `the webhook answered ${res.status}`;
    } catch (err) {
      return `the webhook could not be reached: ${(err as Error).message}`;
    }
  }
}

/** What the webhook receives: public facts of the certificate, never a key. */
function payloadOf(c: WatchedCertificate, thresholdDays: number, leftMs: number, now: string) {
  return {
    event: thresholdDays === 0 ? 'certificate.expired' : 'certificate.expiring',
    threshold_days: thresholdDays,
    days_left: Math.max(0, Math.floor(leftMs / DAY_MS)),
    expires_on: c.expiresOn,
    certificate: { kind: c.kind, id: c.certificateId, zone: c.zone || null, hostname: c.hostname || null, key_type: c.keyType || null },
    detected_at: now,
  };
}
