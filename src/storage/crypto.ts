import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

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

/** The master key: from configuration, else read from (or generated into) `<dataDir>/master.key`, mode 0600. */
export function loadMasterKey(configured: Buffer | undefined, dataDir: string): Buffer {
  if (configured) return configured;
  const file = path.join(dataDir, 'master.key');
  if (!existsSync(file)) {
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
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a base64 32-byte key`);
  return key;
}

/** Secrets we only need to recognise (tokens, API keys) are stored as SHA-256: they are high-entropy. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(hashSecret(a));
  const bb = Buffer.from(hashSecret(b));
  return timingSafeEqual(ab, bb);
}
