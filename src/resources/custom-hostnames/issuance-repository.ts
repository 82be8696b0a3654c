import type { AcmeChallengesTable, CertificateIssuancesTable, Db } from '../../storage/schema.js';

/**
 * SQL of certificate issuance (acme/issuer.ts): one `certificate_issuances` row per hostname
 * whose certificates edgecert obtains itself, and the HTTP-01 answers in `acme_challenges`.
 * Every write of the issuer goes through `update`, which only the lease holder's can do.
 */
export const issuanceRepository = {
  get: (db: Db, customHostnameId: string) => db.selectFrom('certificate_issuances').selectAll().where('custom_hostname_id', '=', customHostnameId).executeTakeFirst(),

  /** Starts (or restarts) issuance now: a new cycle, attempts from zero; an order in progress is kept. */
  arm: (db: Db, row: { customHostnameId: string; zoneId: string; hostname: string; certificateAuthority: string | null; now: string }) =>
    db
      .insertInto('certificate_issuances')
      .values({
        custom_hostname_id: row.customHostnameId,
        zone_id: row.zoneId,
        hostname: row.hostname,
        certificate_authority: row.certificateAuthority,
        next_attempt_at: row.now,
        expires_at: null,
        attempts: 0,
        cycle_started_at: null,
        lease_owner: null,
        lease_until: null,
        order_url: null,
        order_key_type: null,
        key_ciphertext: null,
        key_id: null,
        updated_at: row.now,
      })
      .onConflict((oc) =>
        oc.column('custom_hostname_id').doUpdateSet({ next_attempt_at: row.now, attempts: 0, cycle_started_at: null, certificate_authority: row.certificateAuthority, updated_at: row.now }),
      )
      .execute(),

  /** The hostname's certificates are its own again (an upload): no more issuance or renewal. */
  async disarm(db: Db, customHostnameId: string): Promise<void> {
    await db.deleteFrom('acme_challenges').where('custom_hostname_id', '=', customHostnameId).execute();
    await db.deleteFrom('certificate_issuances').where('custom_hostname_id', '=', customHostnameId).execute();
  },

  /**
   * Rows whose lease is free and that are due: an attempt scheduled by `now`, or (nothing
   * scheduled) a certificate expiring by `renewBy`. The renewal window is the running
   * configuration's, so a changed EDGECERT_ACME_RENEW_BEFORE applies to certificates already issued.
   */
  async due(db: Db, now: string, renewBy: string, limit: number) {
    const free = (q: any) => q.where((eb: any) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]));
    const base = db.selectFrom('certificate_issuances').select('custom_hostname_id');
    const scheduled = await free(base.where('next_attempt_at', '<=', now)).orderBy('next_attempt_at').limit(limit).execute();
    if (scheduled.length >= limit) return scheduled as Array<{ custom_hostname_id: string }>;
    const renewals = await free(base.where('next_attempt_at', 'is', null).where('expires_at', '<=', renewBy)).orderBy('expires_at').limit(limit - scheduled.length).execute();
    return [...scheduled, ...renewals] as Array<{ custom_hostname_id: string }>;
  },

  /** Takes (or extends) the lease: true when `owner` holds it until `until`. One statement, so two nodes cannot both win. */
  async lease(db: Db, customHostnameId: string, owner: string, now: string, until: string): Promise<boolean> {
    const r = await db
      .updateTable('certificate_issuances')
      .set({ lease_owner: owner, lease_until: until })
      .where('custom_hostname_id', '=', customHostnameId)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now), eb('lease_owner', '=', owner)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  },

  /** A write of the lease holder (false: the lease was lost, or the row is gone). */
  async update(db: Db, customHostnameId: string, owner: string, patch: Partial<CertificateIssuancesTable>): Promise<boolean> {
    const r = await db.updateTable('certificate_issuances').set(patch).where('custom_hostname_id', '=', customHostnameId).where('lease_owner', '=', owner).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  },

  release: (db: Db, customHostnameId: string, owner: string) =>
    db.updateTable('certificate_issuances').set({ lease_owner: null, lease_until: null }).where('custom_hostname_id', '=', customHostnameId).where('lease_owner', '=', owner).execute(),

  putChallenge: (db: Db, row: AcmeChallengesTable) =>
    db.insertInto('acme_challenges').values(row).onConflict((oc) => oc.column('token').doUpdateSet({ key_authorization: row.key_authorization })).execute(),

  clearChallenges: (db: Db, customHostnameId: string) => db.deleteFrom('acme_challenges').where('custom_hostname_id', '=', customHostnameId).execute(),

  /** What the HTTP listener answers for a token (any edge node: the row is in the shared database). */
  challenge: (db: Db, token: string) => db.selectFrom('acme_challenges').select(['hostname', 'key_authorization']).where('token', '=', token).executeTakeFirst(),
};
