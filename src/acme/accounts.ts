import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import type { AppContext } from '../context.js';
import type { AcmeConfig } from '../config.js';
import { isoTimestamp } from '../lib/clock.js';
import { acmeAccountRepository } from './account-repository.js';

/** The AAD of an account key: a sealed key copied onto another directory's row does not open. */
const sealedAs = (directoryUrl: string) => `acme_account:${directoryUrl}`;

/**
 * ACME clients, one per directory, each with edgecert's account there: created on first use
 * (contact EDGECERT_ACME_EMAIL, terms agreed), its key sealed under the master key and shared by
 * every node through the database.
 */
export class AcmeAccounts {
  private readonly clients = new Map<string, Promise<acme.Client>>();

  constructor(
    private readonly ctx: Pick<AppContext, 'store' | 'vault' | 'clock' | 'log'>,
    private readonly config: AcmeConfig,
  ) {
    // acme-client's one axios instance: the ACME server's HTTPS may be signed by a private CA.
    if (config.caFile) acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, readFileSync(config.caFile, 'utf8')], keepAlive: true });
  }

  /** The directory `ssl.certificate_authority` maps to (EDGECERT_ACME_DIRECTORIES), else the default one. */
  directoryFor(certificateAuthority: string | null): string {
    return (certificateAuthority && this.config.directories[certificateAuthority]) || this.config.directoryUrl;
  }

  client(directoryUrl: string): Promise<acme.Client> {
    let client = this.clients.get(directoryUrl);
    if (!client) {
      client = this.open(directoryUrl);
      this.clients.set(directoryUrl, client);
      // A failure (the CA unreachable) is not cached: the next attempt tries again.
      client.catch(() => this.clients.delete(directoryUrl));
    }
    return client;
  }

  private async open(directoryUrl: string): Promise<acme.Client> {
    const db = this.ctx.store.db;
    const options = { directoryUrl, backoffAttempts: 12, backoffMin: 500, backoffMax: 10_000 };
    const stored = await acmeAccountRepository.get(db, directoryUrl);
    if (stored) {
      const accountKey = this.ctx.vault.decrypt(stored.key_ciphertext, stored.key_id, sealedAs(directoryUrl));
      return new acme.Client({ ...options, accountKey, accountUrl: stored.account_url });
    }
    const accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    const client = new acme.Client({ ...options, accountKey });
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.config.email ? { contact: [`mailto:${this.config.email}`] } : {}) });
    const sealed = this.ctx.vault.encrypt(accountKey, sealedAs(directoryUrl));
    await this.ctx.store.write(null, (trx) => acmeAccountRepository.insert(trx, { directory_url: directoryUrl, account_url: client.getAccountUrl(), key_ciphertext: sealed.ciphertext, key_id: sealed.keyId, created_at: isoTimestamp(this.ctx.clock.now()) }));
    this.ctx.log.info({ directoryUrl, accountUrl: client.getAccountUrl() }, 'ACME account registered');
    // Another node may have registered at the same moment: use the account the database kept.
    const kept = (await acmeAccountRepository.get(db, directoryUrl))!;
    if (kept.account_url === client.getAccountUrl()) return client;
    return new acme.Client({ ...options, accountKey: this.ctx.vault.decrypt(kept.key_ciphertext, kept.key_id, sealedAs(directoryUrl)), accountUrl: kept.account_url });
  }
}
