import type { Store } from './connect.js';
import type { KeyVault } from './crypto.js';

/**
 * Every sealed column, with the associated data each row was sealed with (the AAD must be the
 * same when it is sealed again). A table added with a sealed key belongs here too, or rotation
 * would leave its rows under a key that is then thrown away (test/api/rotation.test.ts checks
 * every `key_ciphertext` column of the schema is listed).
 */
export const SEALED_COLUMNS = [
  { table: 'pack_certificates', id: 'id', aad: (id: string) => id },
  { table: 'managed_cas', id: 'id', aad: (id: string) => id },
  { table: 'mtls_certificates', id: 'id', aad: (id: string) => id },
  { table: 'tls_ticket_keys', id: 'slot', aad: (slot: string) => `tls_ticket_key:${Number(slot)}` },
  { table: 'certificate_issuances', id: 'custom_hostname_id', aad: (id: string) => `certificate_issuance:${id}` },
  { table: 'acme_accounts', id: 'directory_url', aad: (url: string) => `acme_account:${url}` },
] as const;

/** Rows still sealed under another key than the vault's current one. */
export async function rowsToReseal(store: Store, vault: KeyVault): Promise<number> {
  let n = 0;
  for (const { table } of SEALED_COLUMNS) {
    const r = await (store.db as any)
      .selectFrom(table)
      .select((eb: any) => eb.fn.countAll().as('n'))
      .where('key_ciphertext', 'is not', null)
      .where('key_id', '!=', vault.keyId)
      .executeTakeFirst();
    n += Number(r?.n ?? 0);
  }
  return n;
}

/**
 * Seals every row again under the vault's current key, `batch` rows per transaction. A row is
 * rewritten only if it still holds what was read (a concurrent write wins; the next pass sees
 * it), so this is safe beside running servers, to interrupt, and to run again.
 */
export async function resealAll(store: Store, vault: KeyVault, opts: { batch: number; onBatch?: (done: number) => void }): Promise<number> {
  let done = 0;
  for (const { table, id, aad } of SEALED_COLUMNS) {
    for (;;) {
      const rows = (await (store.db as any)
        .selectFrom(table)
        .select([id, 'key_ciphertext', 'key_id'])
        .where('key_ciphertext', 'is not', null)
        .where('key_id', '!=', vault.keyId)
        .limit(opts.batch)
        .execute()) as Array<Record<string, string> & { key_ciphertext: string; key_id: string }>;
      if (rows.length === 0) break;
      await store.write(null, async (trx) => {
        for (const row of rows) {
          const rowId = String(row[id]);
          const sealed = vault.encrypt(vault.decrypt(row.key_ciphertext, row.key_id, aad(rowId)), aad(rowId));
          await (trx as any)
            .updateTable(table)
            .set({ key_ciphertext: sealed.ciphertext, key_id: sealed.keyId })
            .where(id, '=', row[id])
            .where('key_ciphertext', '=', row.key_ciphertext)
            .execute();
        }
      });
      done += rows.length;
      opts.onBatch?.(done);
    }
  }
  return done;
}

/** Once nothing is sealed under them: the checks of the keys that are gone. */
export async function dropOtherKeyChecks(store: Store, vault: KeyVault): Promise<void> {
  await store.write(null, (trx) => trx.deleteFrom('master_key_checks').where('key_id', '!=', vault.keyId).execute());
}
