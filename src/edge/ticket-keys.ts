import { createHash, randomBytes } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import type { AppContext } from '../context.js';
import { isoTimestamp } from '../lib/clock.js';
import { ticketKeysRepository } from '../storage/ticket-keys.js';

interface TicketKey {
  slot: number;
  name: Buffer;
  hmac: Buffer;
  aes: Buffer;
}

/** Node's internal secure-context handle: the ticket-key callback and the session id context. */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
  setSessionIdContext?: (context: string) => void;
  setSessionTimeout?: (seconds: number) => void;
}

/** Ticket-key callback results (OpenSSL's): unknown key, good key, good key but issue a new ticket. */
const UNKNOWN = 0;
const GOOD = 1;
const RENEW = 2;
/**
 * Node reads the HMAC and AES keys out of every answer before it looks at the result, and
 * aborts the process if they are not buffers: even "unknown key" carries (unused) keys.
 */
const ZEROS = Buffer.alloc(16);
const NO_TICKET = [UNKNOWN, ZEROS, ZEROS, ZEROS, ZEROS];

/**
 * TLS session-ticket keys shared by every edge worker and node, so that a client resumes on any
 * of them. Time is cut into slots of the rotation period; each slot has one key, kept in the
 * database and sealed under the master key. The key of the current slot encrypts new tickets;
 * the keys of the two slots before it still decrypt (and the client gets a ticket under the
 * current key). Keys are created one slot ahead, so every process holds the next key well
 * before it starts issuing, whichever process creates it (the insert of a slot is idempotent).
 *
 * A session resumes only in a context with the same session id context, which the edge derives
 * from the custom hostname, its configuration and its client-certificate rule: a ticket is no
 * good for another hostname, nor after the hostname's TLS or mTLS configuration changed.
 */
export class TicketKeyRing {
  private keys = new Map<string, TicketKey>();
  private current: TicketKey | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Contexts that could not take the callback (Node without the internal API): resumption off there. */
  unsupported = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly rotationMs: number,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    // Well within a slot: the next key is created a whole slot before it is needed.
    this.timer = setInterval(() => void this.refresh().catch((err) => this.ctx.log.warn({ err }, 'edge: refreshing TLS ticket keys failed')), Math.min(60_000, this.rotationMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The slot of `now`. */
  slotAt(now: Date): number {
    return Math.floor(now.getTime() / this.rotationMs);
  }

  /** Makes sure the current and next slots have keys, drops expired ones, loads what is kept. */
  async refresh(): Promise<void> {
    const db = this.ctx.store.db;
    const slot = this.slotAt(this.ctx.clock.now());
    for (const s of [slot, slot + 1]) {
      const material = randomBytes(32);
      const sealed = this.ctx.vault.encrypt(material.toString('base64'), rowIdOf(s));
      await ticketKeysRepository.insertIfAbsent(db, { slot: s, name: randomBytes(16).toString('hex'), key_ciphertext: sealed.ciphertext, key_id: sealed.keyId, created_at: isoTimestamp(this.ctx.clock.now()) });
    }
    await ticketKeysRepository.deleteBefore(db, slot - 2);
    const rows = await ticketKeysRepository.between(db, slot - 2, slot + 1);
    const keys = new Map<string, TicketKey>();
    for (const row of rows) {
      const material = Buffer.from(this.ctx.vault.decrypt(row.key_ciphertext, row.key_id, rowIdOf(Number(row.slot))), 'base64');
      keys.set(row.name, { slot: Number(row.slot), name: Buffer.from(row.name, 'hex'), hmac: material.subarray(0, 16), aes: material.subarray(16, 32) });
    }
    this.keys = keys;
    this.current = [...keys.values()].find((k) => k.slot === slot);
  }

  /**
   * Makes `context` issue and accept tickets under the shared keys, bound to `sessionIdContext`
   * (any string; hashed to OpenSSL's 32-byte limit).
   */
  attach(context: SecureContext, sessionIdContext: string): void {
    const native = (context as unknown as { context?: NativeContext }).context;
    if (typeof native?.enableTicketKeyCallback !== 'function' || typeof native.setSessionIdContext !== 'function') {
      this.unsupported++;
      return;
    }
    native.setSessionIdContext(createHash('sha256').update(sessionIdContext).digest('base64').slice(0, 32));
    // A ticket is worth as long as its key decrypts: at least two rotation periods.
    native.setSessionTimeout?.(Math.floor((2 * this.rotationMs) / 1000));
    native.enableTicketKeyCallback();
    native.onticketkeycallback = (name, _iv, encrypt) => {
      if (encrypt) {
        const key = this.current;
        if (!key) return NO_TICKET;
        return [GOOD, key.hmac, key.aes, key.name, randomBytes(16)];
      }
      // A key of the next slot is accepted too: another node whose clock runs ahead may issue under it.
      const key = this.keys.get(name.toString('hex'));
      if (!key) return NO_TICKET;
      return [key === this.current ? GOOD : RENEW, key.hmac, key.aes];
    };
  }

  /** Slots of the keys held (for tests). */
  get slots(): number[] {
    return [...this.keys.values()].map((k) => k.slot).sort((a, b) => a - b);
  }
}

/** The associated data a slot's key is sealed with: a ciphertext moved to another slot does not open. */
const rowIdOf = (slot: number) => `tls_ticket_key:${slot}`;
