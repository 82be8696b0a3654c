import { randomUUID } from 'node:crypto';
import { hostname as machineName } from 'node:os';
import acme from 'acme-client';
import type { AppContext } from '../context.js';
import type { AcmeConfig } from '../config.js';
import { isoTimestamp } from '../lib/clock.js';
import { PkiRefusal } from '../pki/refusal.js';
import { validateCustomCertificate } from '../pki/validate.js';
import type { CertificateIssuancesTable, CustomHostnamesTable, Db } from '../storage/schema.js';
import { customHostnamesRepository } from '../resources/custom-hostnames/repository.js';
import { packCertificatesRepository } from '../resources/custom-hostnames/pack-repository.js';
import { issuanceRepository } from '../resources/custom-hostnames/issuance-repository.js';
import { putIntoPack } from '../resources/custom-hostnames/pack.js';
import { customCertificateError } from '../resources/custom-hostnames/refusals.js';
import { AcmeAccounts } from './accounts.js';

type KeyType = 'ecdsa' | 'rsa';

/** Hostnames one node works on at once. */
const CONCURRENCY = 4;
/** A lease outlives a step (an ACME request and its retries); each step renews it. */
const LEASE_MS = 3 * 60_000;
/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 3_600_000;

/** The CA refused the hostname's validation: its message is the hostname's validation error. */
class ValidationFailed extends Error {}
/** The CA did not issue (or issued something edgecert refuses to serve). */
class IssuanceFailed extends Error {}
/** Another node took the lease over (this one was too slow), or this one is stopping: the stored order is carried on later. */
class LeaseLost extends Error {}

const sealedAs = (customHostnameId: string) => `certificate_issuance:${customHostnameId}`;

/**
 * Obtains and renews certificates through ACME (RFC 8555, with `acme-client`) for hostnames
 * created with `ssl.method: "http"` and no certificate. The work is a row per hostname
 * (`certificate_issuances`) that any API node may lease; the ACME order in progress, and its
 * key once finalized, are stored, so a restart (or another node) resumes it. Status follows
 * Cloudflare's flow: pending_validation → pending_issuance → pending_deployment → active, or
 * validation_timed_out / issuance_timed_out; the CA's messages land in `ssl.validation_errors`.
 * HTTP-01 answers go to the database, where every edge node's HTTP listener finds them.
 */
export class CertificateIssuer {
  /** This process, as the holder of leases. */
  readonly owner = `${machineName()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly accounts: AcmeAccounts;
  private readonly working = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  private again = false;
  private readonly onChanged = () => this.wake();

  constructor(
    private readonly ctx: AppContext,
    private readonly config: AcmeConfig,
  ) {
    this.accounts = new AcmeAccounts(ctx, config);
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.config.pollMs);
    this.timer.unref();
    // A hostname created through this process's API is started at once, not at the next poll.
    this.ctx.store.changes.on('changed', this.onChanged);
    this.wake();
  }

  /** Stops taking work, lets the hostnames in progress reach their next step (≤ 15 s), releases their leases. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.ctx.store.changes.off('changed', this.onChanged);
    await Promise.race([Promise.allSettled([this.ticking, ...this.working.values()]), new Promise((r) => setTimeout(r, 15_000).unref())]);
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((err) => this.ctx.log.warn({ err }, 'certificate issuance: looking for due hostnames failed'))
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private now(): Date {
    return this.ctx.clock.now();
  }

  private async tick(): Promise<void> {
    const free = CONCURRENCY - this.working.size;
    if (free <= 0) return;
    const now = this.now();
    const renewBy = new Date(now.getTime() + this.config.renewBeforeMs);
    const due = await issuanceRepository.due(this.ctx.store.db, isoTimestamp(now), isoTimestamp(renewBy), free + this.working.size);
    for (const { custom_hostname_id: id } of due) {
      if (this.stopped || this.working.size >= CONCURRENCY || this.working.has(id)) continue;
      const leased = await this.ctx.store.write(null, (trx) => issuanceRepository.lease(trx, id, this.owner, isoTimestamp(now), isoTimestamp(new Date(now.getTime() + LEASE_MS))));
      if (!leased) continue; // another node has it
      const job = this.work(id)
        .catch((err) => this.ctx.log.error({ err, customHostnameId: id }, 'certificate issuance failed unexpectedly'))
        .finally(async () => {
          this.working.delete(id);
          await this.ctx.store.write(null, (trx) => issuanceRepository.release(trx, id, this.owner)).catch(() => undefined);
          this.wake();
        });
      this.working.set(id, job);
    }
  }

  /** Between two steps of an order: a stopping process leaves the rest to the next start (or node). */
  private checkpoint(): void {
    if (this.stopped) throw new LeaseLost('stopping');
  }

  /** One write of the lease holder: the issuance row (renewing the lease), and the hostname's status fields. */
  private async save(
    target: string | Pick<CustomHostnamesTable, 'id' | 'zone_id'>,
    issuance: Partial<CertificateIssuancesTable>,
    host?: Partial<CustomHostnamesTable>,
    extra?: (trx: Db) => Promise<unknown>,
  ): Promise<void> {
    const now = this.now();
    const id = typeof target === 'string' ? target : target.id;
    // A change of the hostname's own fields is a change of it (its zone known by the caller, or read).
    const zoneId = !host ? undefined : typeof target === 'string' ? (await customHostnamesRepository.getById(this.ctx.store.db, id))?.zone_id : target.zone_id;
    await this.ctx.store.write(zoneId ? { kind: 'custom_hostname', zoneId, entityId: id } : null, async (trx) => {
      const kept = await issuanceRepository.update(trx, id, this.owner, { ...issuance, lease_until: isoTimestamp(new Date(now.getTime() + LEASE_MS)), updated_at: isoTimestamp(now) });
      if (!kept) throw new LeaseLost();
      if (host) await customHostnamesRepository.update(trx, id, { ...host, updated_at: isoTimestamp(now) });
      await extra?.(trx);
    });
  }

  /** Works one hostname until its certificates are current, or until it has to wait (a failure: retried later). */
  private async work(id: string): Promise<void> {
    const db = this.ctx.store.db;
    const host = await customHostnamesRepository.getById(db, id);
    let issuance = await issuanceRepository.get(db, id);
    if (!host || !issuance || this.stopped) return;
    const due = await this.dueKeyTypes(id);
    if (due.length === 0) return this.scheduleRenewal(id);
    if (!issuance.cycle_started_at) {
      await this.save(id, { cycle_started_at: isoTimestamp(this.now()) });
      issuance = (await issuanceRepository.get(db, id))!;
    }
    // Renewing a hostname that is being served (or its second key type): its status stays active meanwhile.
    let serving = host.ssl_status === 'active';
    try {
      for (const keyType of due) {
        if (this.stopped) return;
        serving = (await customHostnamesRepository.getById(db, id))?.ssl_status === 'active';
        await this.issue(host, issuance, keyType, serving);
        issuance = (await issuanceRepository.get(db, id)) ?? issuance;
      }
      await this.scheduleRenewal(id);
      this.ctx.log.info({ customHostnameId: id, hostname: host.hostname, keyTypes: due }, 'certificate issued');
    } catch (err) {
      if (err instanceof LeaseLost || this.stopped) return;
      await this.failed(host, issuance, err as Error, serving);
    }
  }

  /** Key types whose certificate is missing or within EDGECERT_ACME_RENEW_BEFORE of expiring. */
  private async dueKeyTypes(id: string): Promise<KeyType[]> {
    const certificates = await packCertificatesRepository.publicForHostname(this.ctx.store.db, id);
    const renewBy = this.now().getTime() + this.config.renewBeforeMs;
    return this.config.keyTypes.filter((keyType) => {
      const current = certificates.find((c) => c.key_type === keyType);
      return !current || Date.parse(current.expires_on) <= renewBy;
    });
  }

  /** Issued: nothing scheduled, due again when the soonest certificate enters the renewal window (`due`). */
  private async scheduleRenewal(id: string): Promise<void> {
    const certificates = await packCertificatesRepository.publicForHostname(this.ctx.store.db, id);
    const soonest = Math.min(...certificates.map((c) => Date.parse(c.expires_on)));
    // A certificate valid for less than the renewal window would be renewed at once, forever: retry later instead.
    const tooShort = Number.isFinite(soonest) && soonest - this.config.renewBeforeMs <= this.now().getTime();
    await this.save(id, {
      next_attempt_at: Number.isFinite(soonest) && !tooShort ? null : isoTimestamp(new Date(this.now().getTime() + Math.max(this.config.pollMs, 60_000))),
      expires_at: Number.isFinite(soonest) ? isoTimestamp(new Date(soonest)) : null,
      attempts: 0,
      cycle_started_at: null,
      order_url: null,
      order_key_type: null,
      key_ciphertext: null,
      key_id: null,
    });
  }

  private async issue(host: CustomHostnamesTable, issuance: CertificateIssuancesTable, keyType: KeyType, serving: boolean): Promise<void> {
    const client = await this.accounts.client(this.accounts.directoryFor(issuance.certificate_authority));
    const status = (s: string) => (serving ? {} : { ssl_status: s });
    let order: acme.Order | undefined;
    this.checkpoint();
    if (issuance.order_url && issuance.order_key_type === keyType) {
      order = await client.getOrder({ url: issuance.order_url } as acme.Order).catch(() => undefined);
      if (order?.status === 'invalid') order = undefined;
      if (order) this.ctx.log.info({ customHostnameId: host.id, orderUrl: order.url, status: order.status }, 'resuming ACME order');
    }
    if (!order) {
      order = await client.createOrder({ identifiers: [{ type: 'dns', value: host.hostname }] });
      await this.save(host, { order_url: order.url, order_key_type: keyType, key_ciphertext: null, key_id: null });
      this.ctx.log.info({ customHostnameId: host.id, hostname: host.hostname, keyType, orderUrl: order.url }, 'ACME order created');
    }

    if (order.status === 'pending') {
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue;
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) throw new ValidationFailed(`the CA offered no HTTP-01 challenge for ${host.hostname}`);
        if (authz.status === 'invalid') throw new ValidationFailed((challenge.error as { detail?: string } | undefined)?.detail ?? `the CA refused the validation of ${host.hostname}`);
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        const token = (challenge as { token: string }).token;
        const record = { http_url: `http://${host.hostname}/.well-known/acme-challenge/${token}`, http_body: keyAuthorization, status: 'pending' };
        await this.save(host, {}, { ...status('pending_validation'), ssl_validation_records: JSON.stringify([record]) }, (trx) =>
          issuanceRepository.putChallenge(trx, { token, custom_hostname_id: host.id, hostname: host.hostname, key_authorization: keyAuthorization, created_at: isoTimestamp(this.now()) }),
        );
        this.checkpoint();
        if (challenge.status === 'pending') await client.completeChallenge(challenge);
        try {
          await client.waitForValidStatus(challenge);
        } catch (err) {
          throw new ValidationFailed((err as Error).message);
        }
      }
      await this.save(host, {}, { ...status('pending_issuance'), ssl_validation_records: null, ssl_validation_errors: null, verification_errors: null }, (trx) => issuanceRepository.clearChallenges(trx, host.id));
      order = await client.getOrder(order);
    }

    this.checkpoint();
    if (order.status === 'ready') {
      const key = keyType === 'ecdsa' ? await acme.crypto.createPrivateEcdsaKey('P-256') : await acme.crypto.createPrivateRsaKey(2048);
      // Stored before the CA sees the CSR: an order finalized with it can be collected after a restart.
      const sealed = this.ctx.vault.encrypt(key.toString(), sealedAs(host.id));
      await this.save(host, { key_ciphertext: sealed.ciphertext, key_id: sealed.keyId }, status('pending_issuance'));
      const [, csr] = await acme.crypto.createCsr({ commonName: host.hostname, altNames: [host.hostname] }, key);
      order = await client.finalizeOrder(order, csr);
    }
    this.checkpoint();
    if (order.status === 'processing') order = await client.waitForValidStatus(order);
    if (order.status !== 'valid') throw new IssuanceFailed(`the ACME order for ${host.hostname} is ${order.status}`);

    const stored = await issuanceRepository.get(this.ctx.store.db, host.id);
    if (!stored?.key_ciphertext || !stored.key_id) {
      // Finalized with a key that was never stored (cannot happen short of manual edits): a new order.
      await this.save(host, { order_url: null, order_key_type: null });
      throw new IssuanceFailed('the order was finalized with a key edgecert does not hold');
    }
    const keyPem = this.ctx.vault.decrypt(stored.key_ciphertext, stored.key_id, sealedAs(host.id));
    await this.save(host, {}, status('pending_deployment'));
    const chain = await client.getCertificate(order);
    let upload;
    try {
      // The rules every upload meets (a chain to a trusted root among them): what the CA sent is checked too.
      upload = validateCustomCertificate({ certificate: chain, key: keyPem, hostname: host.hostname }, this.ctx.trust, this.now());
    } catch (err) {
      await this.save(host, { order_url: null, order_key_type: null, key_ciphertext: null, key_id: null });
      if (err instanceof PkiRefusal) throw new IssuanceFailed(`the certificate the CA issued was refused: ${customCertificateError(err.refusal).message}`);
      throw err;
    }
    // Into the pack and active in one write, which the edges pick up from the change feed.
    const now = this.now();
    await this.ctx.store.write({ kind: 'certificate_pack', zoneId: host.zone_id, entityId: host.id }, async (trx, tx) => {
      if (!(await tx.lock('custom_hostnames', host.id))) throw new LeaseLost(); // deleted meanwhile
      const kept = await issuanceRepository.update(trx, host.id, this.owner, { order_url: null, order_key_type: null, key_ciphertext: null, key_id: null, lease_until: isoTimestamp(new Date(now.getTime() + LEASE_MS)), updated_at: isoTimestamp(now) });
      if (!kept) throw new LeaseLost(); // a certificate was uploaded meanwhile (the row is gone), or the lease was lost
      const current = (await customHostnamesRepository.getById(trx, host.id))!;
      await putIntoPack(this.ctx, trx, current, [upload]);
      await customHostnamesRepository.update(trx, host.id, { ssl_status: 'active', status: 'active', ssl_validation_records: null, ssl_validation_errors: null, verification_errors: null, updated_at: isoTimestamp(now) });
    });
  }

  /** A failed attempt: the CA's message shown, the next attempt backed off, or the documented timed-out state. */
  private async failed(host: CustomHostnamesTable, issuance: CertificateIssuancesTable, err: Error, serving: boolean): Promise<void> {
    const now = this.now();
    const attempts = issuance.attempts + 1;
    const started = Date.parse(issuance.cycle_started_at ?? isoTimestamp(now));
    const validation = err instanceof ValidationFailed;
    const message = err.message.slice(0, 1000);
    const timedOut = now.getTime() - started >= this.config.validationTimeoutMs;
    let delay = Math.min(MAX_BACKOFF_MS, this.config.pollMs * 2 ** Math.min(attempts - 1, 20)) * (0.5 + Math.random());
    // The CA's rate limits: acme-client already waited out Retry-After on each request; back off long.
    if (/rate ?limit/i.test(message)) delay = Math.max(delay, MAX_BACKOFF_MS);
    // The failed order's record is void; the next attempt publishes its own.
    const hostPatch: Partial<CustomHostnamesTable> = validation
      ? { ssl_validation_errors: JSON.stringify([{ message }]), ssl_validation_records: null, ...(serving ? {} : { verification_errors: JSON.stringify([message]) }) }
      : {};
    if (timedOut && !serving) hostPatch.ssl_status = validation ? 'validation_timed_out' : 'issuance_timed_out';
    this.ctx.log.warn({ customHostnameId: host.id, hostname: host.hostname, attempts, err: { message }, timedOut }, 'certificate issuance attempt failed');
    await this.save(
      host,
      {
        attempts,
        // Timed out: nothing more until a PATCH with ssl.method "http" (Cloudflare's retry); a renewal keeps trying.
        next_attempt_at: timedOut && !serving ? null : isoTimestamp(new Date(now.getTime() + delay)),
        // An order whose validation failed is invalid for good.
        ...(validation ? { order_url: null, order_key_type: null, key_ciphertext: null, key_id: null } : {}),
      },
      hostPatch,
      (trx) => issuanceRepository.clearChallenges(trx, host.id),
    ).catch((e) => {
      if (!(e instanceof LeaseLost)) throw e;
    });
  }
}
