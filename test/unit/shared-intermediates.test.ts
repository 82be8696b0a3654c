import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import Database from 'better-sqlite3';
import { migrations } from '../../src/storage/migrations/index.js';
import { packCertificatesRepository } from '../../src/resources/custom-hostnames/pack-repository.js';
import type { Database as Schema } from '../../src/storage/schema.js';
import { makeTestPki } from '../helpers/pki.js';

/**
 * Intermediates are stored once however many leaves they issued (migration 009), and callers
 * still see whole chains: a database written before the migration is converted, and rows
 * written after it store only their leaf.
 */
test('migration 009 splits stored chains; new rows store the leaf; reads give whole chains; one intermediate row for all', async () => {
  const pki = await makeTestPki();
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations('sqlite') } });
  assert.equal((await migrator.migrateTo('008_hostname_counts')).error, undefined);
  const now = new Date().toISOString();
  await db.insertInto('accounts').values({ id: 'a', name: 'default', type: 'standard', created_on: now }).execute();
  await db.insertInto('zones').values({ id: 'z', account_id: 'a', name: 'z.com', status: 'active', type: 'full', paused: 0, created_on: now, modified_on: now, activated_on: now }).execute();
  const leaves = [];
  for (let i = 0; i < 3; i++) {
    const leaf = await pki.leaf({ hosts: [`h${i}.shared.test`], keyType: 'ecdsa' });
    leaves.push(leaf);
    const id = randomUUID();
    await db.insertInto('custom_hostnames').values({
      id, zone_id: 'z', hostname: `h${i}.shared.test`, custom_metadata: null, custom_origin_server: null, custom_origin_sni: null, status: 'active',
      verification_token: 'v', http_token: 'h', created_at: now, updated_at: now, ssl_pack_id: randomUUID(), ssl_method: null, ssl_type: 'dv',
      ssl_bundle_method: 'ubiquitous', ssl_certificate_authority: null, ssl_custom_csr_id: null, ssl_cloudflare_branding: 0, ssl_wildcard: 0, ssl_settings: '{}', ssl_status: 'active',
    } as never).execute(); // the columns of a database at 008
    // Before 009: the whole chain in `certificate` (no `chain` column yet).
    const row = { id: randomUUID(), pack_id: randomUUID(), custom_hostname_id: id, key_type: 'ecdsa', certificate: leaf.chainPem, key_ciphertext: 'x', key_id: 'k', issuer: 'i', serial_number: '1', signature: 's', expires_on: now, issued_on: now, uploaded_on: now, fingerprint_sha256: 'f', hosts: '[]' };
    await db.insertInto('pack_certificates').values(row as never).execute();
  }
  assert.equal((await migrator.migrateToLatest()).error, undefined);

  const stored = await db.selectFrom('pack_certificates').select(['custom_hostname_id', 'certificate', 'chain']).execute();
  for (const r of stored) {
    assert.ok(leaves.some((l) => l.certPem === r.certificate), 'only the leaf stays in the row');
    assert.match(r.chain, /^[0-9a-f]{64}$/);
  }
  assert.deepEqual((await db.selectFrom('ca_certificates').select('pem').execute()).map((r) => r.pem), [pki.intermediate.pem], 'one intermediate row for three leaves');
  // Through the repository: whole chains, as uploaded.
  const ids = stored.map((r) => r.custom_hostname_id);
  for (const [i, id] of ids.entries()) {
    const [chain] = await packCertificatesRepository.publicForHostname(db, id);
    assert.equal(chain!.certificate, leaves.find((l) => l.certPem === stored[i]!.certificate)!.chainPem);
  }

  // Written now: the leaf alone, and the intermediate is not stored twice.
  const [first] = await packCertificatesRepository.forHostname(db, ids[0]!);
  const fresh = await pki.leaf({ hosts: ['h0.shared.test'], keyType: 'ecdsa' });
  await packCertificatesRepository.replace(db, first!.id, { ...first!, certificate: fresh.chainPem });
  assert.equal((await db.selectFrom('pack_certificates').select('certificate').where('id', '=', first!.id).executeTakeFirstOrThrow()).certificate, fresh.certPem);
  assert.equal((await packCertificatesRepository.publicForHostname(db, ids[0]!))[0]!.certificate, fresh.chainPem);
  assert.equal((await db.selectFrom('ca_certificates').selectAll().execute()).length, 1);
  await db.destroy();
});
