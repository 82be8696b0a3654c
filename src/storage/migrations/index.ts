import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../connect.js';
import { splitChain } from '../chains.js';

/**
 * Versioned migrations, applied in name order at start and by `edgecert migrate`.
 * Only portable column types; dialect differences are passed in and kept to `serial` below.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    '001_foundation': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('created_on', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('zone_ids', 'text')
          .addColumn('permissions', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_on', 'text', (c) => c.notNull())
          .addColumn('expires_on', 'text')
          .execute();
        await db.schema
          .createTable('zones')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('paused', 'integer', (c) => c.notNull())
          .addColumn('created_on', 'text', (c) => c.notNull())
          .addColumn('modified_on', 'text', (c) => c.notNull())
          .addColumn('activated_on', 'text')
          .execute();
        await db.schema.createIndex('zones_account').on('zones').columns(['account_id', 'name']).execute();
        await db.schema
          .createTable('changes')
          .addColumn('seq', sql.raw(serial) as any, (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('zone_id', 'text')
          .addColumn('entity_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '002_custom_hostnames': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('custom_hostnames')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('zone_id', 'text', (c) => c.notNull().references('zones.id').onDelete('cascade'))
          // Globally unique: the edge routes by SNI alone, so one hostname can have one owner.
          .addColumn('hostname', 'text', (c) => c.notNull().unique())
          .addColumn('custom_metadata', 'text')
          .addColumn('custom_origin_server', 'text')
          .addColumn('custom_origin_sni', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('verification_token', 'text', (c) => c.notNull())
          .addColumn('http_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('ssl_pack_id', 'text', (c) => c.notNull().unique())
          .addColumn('ssl_method', 'text')
          .addColumn('ssl_type', 'text')
          .addColumn('ssl_bundle_method', 'text', (c) => c.notNull())
          .addColumn('ssl_certificate_authority', 'text')
          .addColumn('ssl_custom_csr_id', 'text')
          .addColumn('ssl_cloudflare_branding', 'integer', (c) => c.notNull())
          .addColumn('ssl_wildcard', 'integer', (c) => c.notNull())
          .addColumn('ssl_settings', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('custom_hostnames_zone').on('custom_hostnames').columns(['zone_id', 'hostname']).execute();
        await db.schema
          .createTable('pack_certificates')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('pack_id', 'text', (c) => c.notNull())
          .addColumn('custom_hostname_id', 'text', (c) =>
            c.notNull().references('custom_hostnames.id').onDelete('cascade'),
          )
          .addColumn('key_type', 'text', (c) => c.notNull())
          .addColumn('certificate', 'text', (c) => c.notNull())
          .addColumn('key_ciphertext', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('issuer', 'text', (c) => c.notNull())
          .addColumn('serial_number', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('expires_on', 'text', (c) => c.notNull())
          .addColumn('issued_on', 'text', (c) => c.notNull())
          .addColumn('uploaded_on', 'text', (c) => c.notNull())
          .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
          .addColumn('hosts', 'text', (c) => c.notNull())
          // The pack invariant "at most one certificate per key type", enforced by the database too.
          .addUniqueConstraint('pack_certificates_one_per_key_type', ['pack_id', 'key_type'])
          .execute();
        await db.schema.createIndex('pack_certificates_hostname').on('pack_certificates').column('custom_hostname_id').execute();
        await db.schema
          .createTable('fallback_origins')
          .addColumn('zone_id', 'text', (c) => c.primaryKey().references('zones.id').onDelete('cascade'))
          .addColumn('origin', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '003_custom_hostname_ssl_status': {
      // The list's default order and its ssl filters use the ssl status: kept as an indexed
      // column (set when a pack gains its first certificate; a pack never loses its last one)
      // instead of a per-row subquery that sorted every hostname of the zone on each page.
      async up(db: Kysely<any>) {
        await db.schema
          .alterTable('custom_hostnames')
          .addColumn('ssl_status', 'text', (c) => c.notNull().defaultTo('pending_validation'))
          .execute();
        await sql`update custom_hostnames set ssl_status = 'active'
          where exists (select 1 from pack_certificates pc where pc.custom_hostname_id = custom_hostnames.id)`.execute(db);
        await db.schema
          .createIndex('custom_hostnames_zone_ssl')
          .on('custom_hostnames')
          .columns(['zone_id', 'ssl_status', 'hostname'])
          .execute();
      },
    },
    '004_mtls': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('mtls_certificates')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('name', 'text')
          .addColumn('ca', 'integer', (c) => c.notNull())
          // 1–5 for CAs, null otherwise: unique per account, so the database itself refuses a sixth CA.
          .addColumn('ca_slot', 'integer', (c) => c.check(sql`ca_slot between 1 and 5`))
          .addColumn('certificates', 'text', (c) => c.notNull())
          .addColumn('issuer', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('serial_number', 'text', (c) => c.notNull())
          .addColumn('expires_on', 'text', (c) => c.notNull())
          .addColumn('uploaded_on', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('key_ciphertext', 'text')
          .addColumn('key_id', 'text')
          .addUniqueConstraint('mtls_certificates_ca_slot', ['account_id', 'ca_slot'])
          .execute();
        await db.schema
          .createTable('managed_cas')
          .addColumn('zone_id', 'text', (c) => c.primaryKey().references('zones.id').onDelete('cascade'))
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('certificate', 'text', (c) => c.notNull())
          .addColumn('key_ciphertext', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('expires_on', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('hostname_associations')
          .addColumn('zone_id', 'text', (c) => c.notNull().references('zones.id').onDelete('cascade'))
          // An mTLS certificate id, or 'managed' for the zone's managed CA.
          .addColumn('ca_id', 'text', (c) => c.notNull())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('associated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('hostname_associations_pk', ['zone_id', 'ca_id', 'hostname'])
          .execute();
        await db.schema.createIndex('hostname_associations_ca').on('hostname_associations').column('ca_id').execute();
        await db.schema.createIndex('hostname_associations_hostname').on('hostname_associations').column('hostname').execute();
      },
    },
    '005_association_order': {
      // "Among uploaded CAs the most recently associated wins": timestamps can tie within a
      // millisecond, the change sequence number of the association cannot.
      async up(db: Kysely<any>) {
        await db.schema
          .alterTable('hostname_associations')
          .addColumn('association_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '006_master_key_check': {
      // A value sealed under the master key: a start with another key is refused before it
      // writes anything (crypto.ts, verifyMasterKey).
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('master_key_checks')
          .addColumn('key_id', 'text', (c) => c.primaryKey())
          .addColumn('ciphertext', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '007_tls_ticket_keys': {
      // Session-ticket keys shared by every edge worker and node (edge/ticket-keys.ts): one per
      // rotation period ("slot"), sealed under the master key.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('tls_ticket_keys')
          .addColumn('slot', 'bigint', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('key_ciphertext', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '008_hostname_counts': {
      // A list page's total (result_info.total_count) and the zone quota, without counting every
      // hostname of the zone on each request: per (zone, ssl_status) counts kept by triggers in
      // the writing transaction, so no code path can forget them. And an index for the
      // created_at order, which sorted the whole zone per page.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('hostname_counts')
          .addColumn('zone_id', 'text', (c) => c.notNull().references('zones.id').onDelete('cascade'))
          .addColumn('ssl_status', 'text', (c) => c.notNull())
          .addColumn('n', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('hostname_counts_pk', ['zone_id', 'ssl_status'])
          .execute();
        await sql`insert into hostname_counts (zone_id, ssl_status, n) select zone_id, ssl_status, count(*) from custom_hostnames group by zone_id, ssl_status`.execute(db);
        const decrement = sql`update hostname_counts set n = n - 1 where zone_id = old.zone_id and ssl_status = old.ssl_status`;
        const increment = sql`insert into hostname_counts (zone_id, ssl_status, n) values (new.zone_id, new.ssl_status, 1) on conflict (zone_id, ssl_status) do update set n = hostname_counts.n + 1`;
        if (dialect === 'postgres') {
          await sql`create function edgecert_count_hostnames() returns trigger language plpgsql as $$
            begin
              if tg_op in ('DELETE', 'UPDATE') then ${decrement}; end if;
              if tg_op in ('INSERT', 'UPDATE') then ${increment}; end if;
              return null;
            end $$`.execute(db);
          await sql`create trigger custom_hostnames_count after insert or delete or update of zone_id, ssl_status on custom_hostnames
            for each row execute function edgecert_count_hostnames()`.execute(db);
        } else {
          await sql`create trigger custom_hostnames_count_insert after insert on custom_hostnames begin ${increment}; end`.execute(db);
          await sql`create trigger custom_hostnames_count_delete after delete on custom_hostnames begin ${decrement}; end`.execute(db);
          await sql`create trigger custom_hostnames_count_update after update of zone_id, ssl_status on custom_hostnames
            when old.zone_id is not new.zone_id or old.ssl_status is not new.ssl_status begin ${decrement}; ${increment}; end`.execute(db);
        }
        await db.schema.createIndex('custom_hostnames_zone_created').on('custom_hostnames').columns(['zone_id', 'created_at', 'hostname']).execute();
        // A zone's newest change, which tells whether deep-page anchors still hold (page-anchors.ts).
        await db.schema.createIndex('changes_zone').on('changes').columns(['zone_id', 'seq']).execute();
      },
    },
    '009_shared_intermediates': {
      // An intermediate issues thousands of leaves: stored once (ca_certificates), and each
      // pack certificate keeps its leaf and the fingerprints of its chain.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ca_certificates')
          .addColumn('fingerprint', 'text', (c) => c.primaryKey())
          .addColumn('pem', 'text', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('pack_certificates').addColumn('chain', 'text', (c) => c.notNull().defaultTo('')).execute();
        // Existing rows, a page at a time: split off the intermediates.
        let after = '';
        for (;;) {
          const rows = await db.selectFrom('pack_certificates').select(['id', 'certificate']).where('id', '>', after).orderBy('id').limit(1000).execute();
          for (const row of rows as Array<{ id: string; certificate: string }>) {
            const split = splitChain(row.certificate);
            if (split.intermediates.length === 0) continue;
            for (const ca of split.intermediates) {
              await db.insertInto('ca_certificates').values(ca).onConflict((oc: any) => oc.column('fingerprint').doNothing()).execute();
            }
            await db.updateTable('pack_certificates').set({ certificate: split.leaf, chain: split.chain }).where('id', '=', row.id).execute();
          }
          if (rows.length < 1000) break;
          after = (rows[rows.length - 1] as { id: string }).id;
        }
      },
    },
    '010_certificate_issuance': {
      // Certificates edgecert issues itself through ACME (issue 22, acme/issuer.ts): the
      // validation state shown on the hostname, one issuance row per managed hostname (its
      // schedule, lease and the ACME order in progress), the HTTP-01 answers any edge node serves,
      // and an ACME account per directory.
      async up(db: Kysely<any>) {
        for (const column of ['ssl_validation_records', 'ssl_validation_errors', 'verification_errors']) {
          await db.schema.alterTable('custom_hostnames').addColumn(column, 'text').execute();
        }
        await db.schema
          .createTable('certificate_issuances')
          .addColumn('custom_hostname_id', 'text', (c) => c.primaryKey().references('custom_hostnames.id').onDelete('cascade'))
          .addColumn('zone_id', 'text', (c) => c.notNull())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('certificate_authority', 'text')
          .addColumn('next_attempt_at', 'text')
          .addColumn('expires_at', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('cycle_started_at', 'text')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'text')
          .addColumn('order_url', 'text')
          .addColumn('order_key_type', 'text')
          .addColumn('key_ciphertext', 'text')
          .addColumn('key_id', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('certificate_issuances_due').on('certificate_issuances').column('next_attempt_at').execute();
        await db.schema.createIndex('certificate_issuances_expiry').on('certificate_issuances').column('expires_at').execute();
        await db.schema
          .createTable('acme_challenges')
          .addColumn('token', 'text', (c) => c.primaryKey())
          .addColumn('custom_hostname_id', 'text', (c) => c.notNull().references('custom_hostnames.id').onDelete('cascade'))
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('key_authorization', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('acme_challenges_hostname').on('acme_challenges').column('custom_hostname_id').execute();
        await db.schema
          .createTable('acme_accounts')
          .addColumn('directory_url', 'text', (c) => c.primaryKey())
          .addColumn('account_url', 'text', (c) => c.notNull())
          .addColumn('key_ciphertext', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '011_expiry_alerts': {
      // One row per certificate and threshold crossed (alerts/expiry-alerts.ts): inserted once by
      // whichever node sees it first, delivered by the node that claims it, kept as sent.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('expiry_alerts')
          .addColumn('certificate_id', 'text', (c) => c.notNull())
          .addColumn('expires_on', 'text', (c) => c.notNull())
          .addColumn('threshold_days', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'text', (c) => c.notNull())
          .addColumn('claimed_by', 'text')
          .addColumn('claimed_until', 'text')
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('sent_at', 'text')
          .addPrimaryKeyConstraint('expiry_alerts_pk', ['certificate_id', 'expires_on', 'threshold_days'])
          .execute();
        await db.schema.createIndex('expiry_alerts_pending').on('expiry_alerts').columns(['state', 'next_attempt_at']).execute();
      },
    },
    '012_audit_logs': {
      // One entry per write through the API, in the write's own transaction (api/audit.ts).
      async up(db: Kysely<any>) {
        // Appended in sequence order and read newest first: the sequence is the table's own key
        // (SQLite's rowid), and nothing else is indexed, so an entry costs its write one page.
        await db.schema
          .createTable('audit_logs')
          .addColumn('seq', sql.raw(serial) as any, (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('when', 'text', (c) => c.notNull())
          .addColumn('action_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text', (c) => c.notNull())
          .addColumn('actor_email', 'text')
          .addColumn('actor_ip', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('resource_type', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'text')
          .addColumn('zone_id', 'text')
          .addColumn('zone_name', 'text')
          .addColumn('old_value', 'text')
          .addColumn('new_value', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '013_hostname_trigrams': {
      // hostname.contain is LIKE '%…%', which no B-tree serves: on PostgreSQL a trigram index
      // (pg_trgm, a trusted extension the database's owner may create) makes it an index
      // lookup (348 ms p99 at 100k hostnames before). Skipped where the extension is missing or
      // may not be created here: the filter then scans, as on SQLite.
      async up(db: Kysely<any>) {
        if (dialect !== 'postgres') return;
        const possible = await sql<{ ok: boolean }>`
          select exists (select 1 from pg_available_extensions where name = 'pg_trgm')
             and (exists (select 1 from pg_extension where extname = 'pg_trgm') or has_database_privilege(current_database(), 'CREATE')) as ok`.execute(db);
        if (!possible.rows[0]?.ok) return;
        await sql`create extension if not exists pg_trgm`.execute(db);
        await sql`create index custom_hostnames_hostname_trgm on custom_hostnames using gin (hostname gin_trgm_ops)`.execute(db);
      },
    },
    '014_hostname_search_sqlite': {
      // The SQLite counterpart of 013: an FTS5 trigram index of hostnames (hostname-search.ts
      // picks the rarest trigrams of a hostname.contain value and reads only the rows that
      // hold them; 20 ms of CPU per request at 100k hostnames before, a scan). External content
      // (the hostnames are not stored twice) keyed by custom_hostnames' rowid, which SQLite
      // keeps through VACUUM (tested); detail=none: only "which rows hold this trigram" is
      // asked, ~45 bytes per hostname. Triggers keep it in step with every insert and delete,
      // zone cascades included.
      async up(db: Kysely<any>) {
        if (dialect !== 'sqlite') return;
        await sql`create virtual table custom_hostnames_search using fts5(hostname, content='custom_hostnames', content_rowid='rowid', tokenize='trigram', detail='none')`.execute(db);
        await sql`create trigger custom_hostnames_search_insert after insert on custom_hostnames begin
          insert into custom_hostnames_search(rowid, hostname) values (new.rowid, new.hostname);
        end`.execute(db);
        await sql`create trigger custom_hostnames_search_delete after delete on custom_hostnames begin
          insert into custom_hostnames_search(custom_hostnames_search, rowid, hostname) values ('delete', old.rowid, old.hostname);
        end`.execute(db);
        await sql`create trigger custom_hostnames_search_update after update of hostname on custom_hostnames begin
          insert into custom_hostnames_search(custom_hostnames_search, rowid, hostname) values ('delete', old.rowid, old.hostname);
          insert into custom_hostnames_search(rowid, hostname) values (new.rowid, new.hostname);
        end`.execute(db);
        await sql`insert into custom_hostnames_search(custom_hostnames_search) values ('rebuild')`.execute(db);
      },
    },
  };
}
