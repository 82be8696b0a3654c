import type { Db, ExpiryAlertsTable } from '../storage/schema.js';

/** SQL of expiry alerts (expiry-alerts.ts). */
export const alertRepository = {
  /** Records an alert unless it exists (whichever node sees the crossing first records it; the rest do nothing). */
  insert: (db: Db, row: ExpiryAlertsTable) =>
    db.insertInto('expiry_alerts').values(row).onConflict((oc) => oc.columns(['certificate_id', 'expires_on', 'threshold_days']).doNothing()).execute(),

  /** Pending alerts due by `now` whose claim is free. */
  due: (db: Db, now: string, limit: number) =>
    db
      .selectFrom('expiry_alerts')
      .selectAll()
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute(),

  /** Claims one alert for delivery: one statement, so one node wins. */
  async claim(db: Db, key: Pick<ExpiryAlertsTable, 'certificate_id' | 'expires_on' | 'threshold_days'>, owner: string, now: string, until: string): Promise<boolean> {
    const r = await db
      .updateTable('expiry_alerts')
      .set({ claimed_by: owner, claimed_until: until })
      .where('certificate_id', '=', key.certificate_id)
      .where('expires_on', '=', key.expires_on)
      .where('threshold_days', '=', key.threshold_days)
      .where('state', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  },

  finish: (db: Db, key: Pick<ExpiryAlertsTable, 'certificate_id' | 'expires_on' | 'threshold_days'>, patch: Partial<ExpiryAlertsTable>) =>
    db
      .updateTable('expiry_alerts')
      .set({ ...patch, claimed_by: null, claimed_until: null })
      .where('certificate_id', '=', key.certificate_id)
      .where('expires_on', '=', key.expires_on)
      .where('threshold_days', '=', key.threshold_days)
      .execute(),

  /** Alerts of certificates that expired long ago are history. */
  pruneBefore: (db: Db, expiresBefore: string) => db.deleteFrom('expiry_alerts').where('expires_on', '<', expiresBefore).where('state', '!=', 'pending').execute(),
};
