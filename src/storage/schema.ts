import type { Generated, Kysely, Transaction } from 'kysely';

/**
 * Table types. Portable column kinds only (text, integer), so SQLite and PostgreSQL share the
 * migrations and the repository code: timestamps are ISO 8601 text, booleans 0/1, JSON as text.
 */
export interface AccountsTable {
  id: string;
  name: string;
  type: string;
  created_on: string;
}

export interface TokensTable {
  id: string;
  name: string;
  token_hash: string;
  account_id: string;
  /** JSON array of zone ids, or null for an account-wide token. */
  zone_ids: string | null;
  /** JSON array of permission names. */
  permissions: string;
  status: string;
  created_on: string;
  expires_on: string | null;
}

export interface ZonesTable {
  id: string;
  account_id: string;
  name: string;
  status: string;
  type: string;
  paused: number;
  created_on: string;
  modified_on: string;
  activated_on: string | null;
}

export interface CustomHostnamesTable {
  id: string;
  zone_id: string;
  hostname: string;
  custom_metadata: string | null;
  custom_origin_server: string | null;
  custom_origin_sni: string | null;
  status: string;
  verification_token: string;
  http_token: string;
  created_at: string;
  updated_at: string;
  ssl_pack_id: string;
  ssl_method: string | null;
  ssl_type: string | null;
  ssl_bundle_method: string;
  ssl_certificate_authority: string | null;
  ssl_custom_csr_id: string | null;
  ssl_cloudflare_branding: number;
  ssl_wildcard: number;
  /** JSON object of the ssl.settings fields. */
  /** JSON of SslSettings. */
  ssl_settings: string;
  /** 'active' once the pack holds a certificate; before, 'pending_validation' or a step of an ACME issuance. */
  ssl_status: string;
  /** JSON array of `ssl.validation_records` while an issuance waits for its HTTP-01 challenge, else null. */
  ssl_validation_records: string | null;
  /** JSON array of `ssl.validation_errors` (the CA's messages), else null. */
  ssl_validation_errors: string | null;
  /** JSON array of the hostname's `verification_errors`, else null. */
  verification_errors: string | null;
}

export interface PackCertificatesTable {
  id: string;
  pack_id: string;
  custom_hostname_id: string;
  key_type: 'rsa' | 'ecdsa';
  /**
   * The leaf's PEM (canonical). Its intermediates are stored once for every leaf they issued
   * (`ca_certificates`), named in `chain`; the repository hands out and takes the whole chain.
   * (A row written before migration 009 may still hold the whole chain here, with `chain` empty.)
   */
  certificate: string;
  /** SHA-256 fingerprints (hex) of the leaf's intermediates, in chain order, space-separated. */
  chain: string;
  /** AES-256-GCM ciphertext of the private key (see storage/crypto.ts). */
  key_ciphertext: string;
  key_id: string;
  issuer: string;
  serial_number: string;
  signature: string;
  expires_on: string;
  issued_on: string;
  uploaded_on: string;
  fingerprint_sha256: string;
  /** JSON array of SANs. */
  hosts: string;
}

export interface FallbackOriginsTable {
  zone_id: string;
  origin: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface MtlsCertificatesTable {
  id: string;
  account_id: string;
  name: string | null;
  ca: number;
  ca_slot: number | null;
  /** PEM: the certificate (the CA) first, then its chain. Public data. */
  certificates: string;
  issuer: string;
  signature: string;
  serial_number: string;
  expires_on: string;
  uploaded_on: string;
  updated_at: string;
  key_ciphertext: string | null;
  key_id: string | null;
}

export interface ManagedCasTable {
  zone_id: string;
  id: string;
  certificate: string;
  key_ciphertext: string;
  key_id: string;
  expires_on: string;
  created_at: string;
}

export interface HostnameAssociationsTable {
  zone_id: string;
  /** An mTLS certificate id, or 'managed' for the zone's managed CA. */
  ca_id: string;
  hostname: string;
  associated_at: string;
  /** Sequence number of the change that associated it: orders associations totally. */
  association_seq: number;
}

/** One row per master key that has sealed this database's keys (the current one; more during a rotation). */
export interface MasterKeyChecksTable {
  key_id: string;
  ciphertext: string;
  created_at: string;
}

/** A TLS session-ticket key: `slot` = start of its issuing period / the rotation period. */
/** Intermediate certificates of uploaded chains, one row per certificate however many leaves it issued. */
export interface CaCertificatesTable {
  /** SHA-256 of the DER, hex. */
  fingerprint: string;
  pem: string;
}

/** Custom hostnames per zone and ssl_status, kept by triggers (migration 008). */
export interface HostnameCountsTable {
  zone_id: string;
  ssl_status: string;
  n: number | string | bigint;
}

export interface TlsTicketKeysTable {
  slot: number;
  /** The 16-byte key name, hex (the first bytes of every ticket it encrypts). */
  name: string;
  /** HMAC key then AES key (16 bytes each), sealed under the master key. */
  key_ciphertext: string;
  key_id: string;
  created_at: string;
}

/** A hostname whose certificates edgecert issues and renews (acme/issuer.ts): its schedule and the order in progress. */
export interface CertificateIssuancesTable {
  custom_hostname_id: string;
  zone_id: string;
  hostname: string;
  /** `ssl.certificate_authority` when the order started: which ACME directory. */
  certificate_authority: string | null;
  /** When the issuer should next work on it (a new issuance, or a retry); null: nothing pending. */
  next_attempt_at: string | null;
  /** When the soonest of its issued certificates expires: due again EDGECERT_ACME_RENEW_BEFORE ahead of it. */
  expires_at: string | null;
  attempts: number;
  /** When the current issuance (or renewal) began: its validation and issuance time out from here. */
  cycle_started_at: string | null;
  /** The node working on it, until when (renewed at each step). */
  lease_owner: string | null;
  lease_until: string | null;
  /** The ACME order in progress and the key type it is for: resumed after a restart. */
  order_url: string | null;
  order_key_type: string | null;
  /** The order's private key, sealed under the master key, once it was finalized with it. */
  key_ciphertext: string | null;
  key_id: string | null;
  updated_at: string;
}

/** The key authorization any edge node answers at /.well-known/acme-challenge/{token}. */
export interface AcmeChallengesTable {
  token: string;
  custom_hostname_id: string;
  hostname: string;
  key_authorization: string;
  created_at: string;
}

/** edgecert's ACME account at a directory: its key sealed under the master key. */
export interface AcmeAccountsTable {
  directory_url: string;
  account_url: string;
  key_ciphertext: string;
  key_id: string;
  created_at: string;
}

/** An expiry alert: a certificate crossed a threshold (days before expires_on; 0: expired). */
export interface ExpiryAlertsTable {
  certificate_id: string;
  expires_on: string;
  threshold_days: number;
  kind: string;
  /** The JSON body POSTed to the webhook. */
  payload: string;
  /** 'pending' until delivered ('sent'); 'superseded' when a more urgent threshold was crossed at once. */
  state: string;
  attempts: number;
  next_attempt_at: string;
  claimed_by: string | null;
  claimed_until: string | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

/** An audit log entry: one write through the API (api/audit.ts). */
export interface AuditLogsTable {
  /** The entry's id is this number as 32 hex digits (model.ts). */
  seq: Generated<number>;
  account_id: string;
  when: string;
  action_type: string;
  /** Token id, or the API key's email for a global-key caller. */
  actor_id: string;
  actor_email: string | null;
  actor_ip: string;
  actor_type: string;
  resource_type: string;
  resource_id: string | null;
  zone_id: string | null;
  zone_name: string | null;
  /** JSON, with private keys and secrets redacted. */
  old_value: string | null;
  new_value: string | null;
  /** JSON: method, route, request id. */
  metadata: string;
}

export interface ChangesTable {
  seq: Generated<number>;
  kind: string;
  zone_id: string | null;
  entity_id: string;
  created_at: string;
}

export interface Database {
  accounts: AccountsTable;
  tokens: TokensTable;
  zones: ZonesTable;
  custom_hostnames: CustomHostnamesTable;
  pack_certificates: PackCertificatesTable;
  fallback_origins: FallbackOriginsTable;
  mtls_certificates: MtlsCertificatesTable;
  managed_cas: ManagedCasTable;
  hostname_associations: HostnameAssociationsTable;
  changes: ChangesTable;
  master_key_checks: MasterKeyChecksTable;
  tls_ticket_keys: TlsTicketKeysTable;
  hostname_counts: HostnameCountsTable;
  ca_certificates: CaCertificatesTable;
  certificate_issuances: CertificateIssuancesTable;
  acme_challenges: AcmeChallengesTable;
  acme_accounts: AcmeAccountsTable;
  expiry_alerts: ExpiryAlertsTable;
  audit_logs: AuditLogsTable;
}

/** Repositories take either the database or a transaction. */
export type Db = Kysely<Database> | Transaction<Database>;

/** A custom hostname's `ssl.settings`, as stored (JSON in `ssl_settings`) and read by the edge. */
export interface SslSettings {
  http2?: 'on' | 'off';
  tls_1_3?: 'on' | 'off';
  min_tls_version?: '1.0' | '1.1' | '1.2' | '1.3';
  ciphers?: string[];
  early_hints?: 'on' | 'off';
}
