import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';
import type { Db } from './schema.js';

/**
 * Private keys at rest: AES-256-GCM, a fresh 96-bit nonce per row, and the row's id as
 * associated data (a ciphertext copied onto another row does not decrypt). `keyId` names the
 * master key a row was sealed with, so rotation re-seals rows key by key: during a rotation the
 * vault holds the new (current) key and the previous ones, seals with the current one and opens
 * with whichever a row names.
 */
export class KeyVault {
  private current: { id: string; key: Buffer };
  private readonly keys = new Map<string, Buffer>();
  private checkedAt = 0;

  constructor(
    masterKey: Buffer,
    previous: Buffer[] = [],
    /** Re-reads file-based keys: `edgecert rotate-master-key` replaces them under a running server. */
    private readonly reload?: () => { key: Buffer; previous: Buffer[] } | undefined,
  ) {
    this.current = this.add(masterKey);
    for (const key of previous) this.add(key);
  }

  private add(key: Buffer): { id: string; key: Buffer } {
    if (key.length !== 32) throw new Error('master key must be 32 bytes');
    const id = keyIdOf(key);
    this.keys.set(id, key);
    return { id, key };
  }

  /** The key new rows are sealed with. */
  get keyId(): string {
    this.refresh(false);
    return this.current.id;
  }

  /** Every key this vault opens rows with. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Picks up a rotated key file (at most once a second, unless a row names a key not held yet). */
  private refresh(force: boolean): void {
    if (!this.reload || (!force && Date.now() - this.checkedAt < 1000)) return;
    this.checkedAt = Date.now();
    const loaded = this.reload();
    if (!loaded) return;
    for (const key of loaded.previous) this.add(key);
    this.current = this.add(loaded.key);
  }

  encrypt(plaintext: string, rowId: string): { ciphertext: string; keyId: string } {
    const { id, key } = (this.refresh(false), this.current);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(rowId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const blob = Buffer.concat([nonce, cipher.getAuthTag(), body]);
    return { ciphertext: `v1:${blob.toString('base64')}`, keyId: id };
  }

  decrypt(ciphertext: string, keyId: string, rowId: string): string {
    if (!this.keys.has(keyId)) this.refresh(true);
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`row encrypted under unknown master key ${keyId}`);
    if (!ciphertext.startsWith('v1:')) throw new Error('unknown ciphertext version');
    const blob = Buffer.from(ciphertext.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(rowId));
    decipher.setAuthTag(blob.subarray(12, 28));
    return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
  }
}

export const keyIdOf = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

/** Where the master key comes from: the variable, or the file in the data directory. */
export interface MasterKeySource {
  key: Buffer;
  /** Keys rows may still be sealed with during a rotation (EDGECERT_MASTER_KEY_PREVIOUS, or master.key.previous). */
  previous: Buffer[];
  /** What to name when the key is wrong: `EDGECERT_MASTER_KEY` or the key file's path. */
  origin: string;
  /** For file-based keys: reads them again (rotation replaces the files under a running server). */
  reload?: () => { key: Buffer; previous: Buffer[] } | undefined;
}

export const masterKeyFile = (dataDir: string) => path.join(dataDir, 'master.key');
export const previousKeyFile = (dataDir: string) => path.join(dataDir, 'master.key.previous');

export function readKeyFile(file: string): Buffer {
  const text = readFileSync(file, 'utf8').trim();
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/]+=*$/.test(text)) throw new ConfigError(file, 'does not hold the base64 encoding of a 32-byte key');
  return key;
}

/**
 * The master key: from configuration, else read from `<dataDir>/master.key` (mode 0600). The
 * file is generated only when `mayGenerate` — never for a database that already holds sealed
 * keys, where a new key would silently make every one of them unreadable.
 */
export function loadMasterKey(configured: Buffer | undefined, dataDir: string, mayGenerate = true, configuredPrevious: Buffer[] = []): MasterKeySource {
  if (configured) return { key: configured, previous: configuredPrevious, origin: 'EDGECERT_MASTER_KEY' };
  const file = masterKeyFile(dataDir);
  if (!existsSync(file)) {
    if (!mayGenerate) {
      throw new ConfigError(file, 'the master key file is missing, but the database holds private keys sealed under a master key: restore the file (or set EDGECERT_MASTER_KEY)');
    }
    mkdirSync(dataDir, { recursive: true });
    try {
      // 'wx': never overwrite a key another process created a moment ago.
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, randomBytes(32).toString('base64') + '\n');
      closeSync(fd);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const read = () => ({ key: readKeyFile(file), previous: existsSync(previousKeyFile(dataDir)) ? [readKeyFile(previousKeyFile(dataDir))] : [] });
  return {
    ...read(),
    origin: file,
    reload: () => {
      try {
        return read();
      } catch {
        return undefined; // mid-rotation (a file being replaced): the keys held so far stay
      }
    },
  };
}

const CHECK_PLAINTEXT = 'edgecert master key check';
const CHECK_ROW = 'master_key_check';

/**
 * Proves that `source` is the key this database was sealed with, before anything is written:
 * by the stored check value, or (a database from before the check existed) by one sealed row.
 * A database with no check yet gets one. The wrong key is a configuration error naming its origin.
 */
export async function verifyMasterKey(db: Db, source: MasterKeySource, now: string): Promise<KeyVault> {
  const vault = new KeyVault(source.key, source.previous, source.reload);
  const wrongKey = () =>
    new ConfigError(source.origin, `is not the master key this database's private keys are sealed with (key id ${vault.keyId}); start with the key it was created with`);
  const checks = await db.selectFrom('master_key_checks').selectAll().execute();
  if (checks.length > 0) {
    // The current key, or (mid-rotation) a previous one this vault holds, must open its check.
    const proven = checks.some((c) => vault.keyIds.includes(c.key_id) && opens(() => vault.decrypt(c.ciphertext, c.key_id, CHECK_ROW) === CHECK_PLAINTEXT));
    if (!proven) throw wrongKey();
    if (!checks.some((c) => c.key_id === vault.keyId)) await addCheck(db, vault, now);
    return vault;
  }
  const sealed = await anySealedRow(db);
  if (sealed && !opens(() => vault.decrypt(sealed.ciphertext, sealed.keyId, sealed.rowId) !== undefined)) throw wrongKey();
  await addCheck(db, vault, now);
  return vault;
}

async function addCheck(db: Db, vault: KeyVault, now: string): Promise<void> {
  const check = vault.encrypt(CHECK_PLAINTEXT, CHECK_ROW);
  await db.insertInto('master_key_checks').values({ key_id: check.keyId, ciphertext: check.ciphertext, created_at: now }).onConflict((oc) => oc.column('key_id').doNothing()).execute();
}

/** Does the database hold anything sealed under a master key (or a check of one)? */
export async function holdsSealedKeys(db: Db): Promise<boolean> {
  return (await db.selectFrom('master_key_checks').select('key_id').limit(1).executeTakeFirst()) !== undefined || (await anySealedRow(db)) !== undefined;
}

async function anySealedRow(db: Db): Promise<{ ciphertext: string; keyId: string; rowId: string } | undefined> {
  const pack = await db.selectFrom('pack_certificates').select(['id', 'key_ciphertext', 'key_id']).limit(1).executeTakeFirst();
  if (pack) return { ciphertext: pack.key_ciphertext, keyId: pack.key_id, rowId: pack.id };
  const managed = await db.selectFrom('managed_cas').select(['id', 'key_ciphertext', 'key_id']).limit(1).executeTakeFirst();
  if (managed) return { ciphertext: managed.key_ciphertext, keyId: managed.key_id, rowId: managed.id };
  const mtls = await db.selectFrom('mtls_certificates').select(['id', 'key_ciphertext', 'key_id']).where('key_ciphertext', 'is not', null).limit(1).executeTakeFirst();
  if (mtls?.key_ciphertext && mtls.key_id) return { ciphertext: mtls.key_ciphertext, keyId: mtls.key_id, rowId: mtls.id };
  return undefined;
}

const opens = (attempt: () => boolean): boolean => {
  try {
    return attempt();
  } catch {
    return false;
  }
};

/** Secrets we only need to recognise (tokens, API keys) are stored as SHA-256: they are high-entropy. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(hashSecret(a));
  const bb = Buffer.from(hashSecret(b));
  return timingSafeEqual(ab, bb);
}
