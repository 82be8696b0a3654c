import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';
import type { Db } from './schema.js';

/**
 * Private keys at rest: AES-256-GCM, a fresh 96-bit nonce per row, and the row's id as
 * associated data (a ciphertext copied onto another row does not decrypt). `keyId` names the
 * master key so rotation can re-encrypt rows key by key.
 */
export class KeyVault {
  readonly keyId: string;

  constructor(private readonly masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
    this.keyId = createHash('sha256').update(masterKey).digest('hex').slice(0, 16);
  }

  encrypt(plaintext: string, rowId: string): { ciphertext: string; keyId: string } {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, nonce);
    cipher.setAAD(Buffer.from(rowId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const blob = Buffer.concat([nonce, cipher.getAuthTag(), body]);
    return { ciphertext: `v1:${blob.toString('base64')}`, keyId: this.keyId };
  }

  decrypt(ciphertext: string, keyId: string, rowId: string): string {
    if (keyId !== this.keyId) throw new Error(`row encrypted under unknown master key ${keyId}`);
    if (!ciphertext.startsWith('v1:')) throw new Error('unknown ciphertext version');
    const blob = Buffer.from(ciphertext.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.masterKey, blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(rowId));
    decipher.setAuthTag(blob.subarray(12, 28));
    return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/** Where the master key comes from: the variable, or the file in the data directory. */
export interface MasterKeySource {
  key: Buffer;
  /** What to name when the key is wrong: `EDGECERT_MASTER_KEY` or the key file's path. */
  origin: string;
}

/**
 * The master key: from configuration, else read from `<dataDir>/master.key` (mode 0600). The
 * file is generated only when `mayGenerate` — never for a database that already holds sealed
 * keys, where a new key would silently make every one of them unreadable.
 */
export function loadMasterKey(configured: Buffer | undefined, dataDir: string, mayGenerate = true): MasterKeySource {
  if (configured) return { key: configured, origin: 'EDGECERT_MASTER_KEY' };
  const file = path.join(dataDir, 'master.key');
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
  const text = readFileSync(file, 'utf8').trim();
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/]+=*$/.test(text)) throw new ConfigError(file, 'does not hold the base64 encoding of a 32-byte key');
  return { key, origin: file };
}

const CHECK_PLAINTEXT = 'edgecert master key check';
const CHECK_ROW = 'master_key_check';

/**
 * Proves that `source` is the key this database was sealed with, before anything is written:
 * by the stored check value, or (a database from before the check existed) by one sealed row.
 * A database with no check yet gets one. The wrong key is a configuration error naming its origin.
 */
export async function verifyMasterKey(db: Db, source: MasterKeySource, now: string): Promise<KeyVault> {
  const vault = new KeyVault(source.key);
  const wrongKey = () =>
    new ConfigError(source.origin, `is not the master key this database's private keys are sealed with (key id ${vault.keyId}); start with the key it was created with`);
  const checks = await db.selectFrom('master_key_checks').selectAll().execute();
  if (checks.length > 0) {
    const mine = checks.find((c) => c.key_id === vault.keyId);
    if (!mine || !opens(() => vault.decrypt(mine.ciphertext, mine.key_id, CHECK_ROW) === CHECK_PLAINTEXT)) throw wrongKey();
    return vault;
  }
  const sealed = await anySealedRow(db);
  if (sealed && !opens(() => vault.decrypt(sealed.ciphertext, sealed.keyId, sealed.rowId) !== undefined)) throw wrongKey();
  const check = vault.encrypt(CHECK_PLAINTEXT, CHECK_ROW);
  await db.insertInto('master_key_checks').values({ key_id: check.keyId, ciphertext: check.ciphertext, created_at: now }).onConflict((oc) => oc.column('key_id').doNothing()).execute();
  return vault;
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
