import type { Selectable } from 'kysely';
import type { AuditLogsTable, Db } from '../../storage/schema.js';
import { prepared } from '../../storage/prepared.js';

// Every API write runs these two: compiled once (storage/prepared.ts), not built per call.
type NewEntry = Omit<AuditLogsTable, 'seq'>;
const insertEntry = prepared((db, p: NewEntry) =>
  db.insertInto('audit_logs').values({ account_id: p.account_id, when: p.when, action_type: p.action_type, actor_id: p.actor_id, actor_email: p.actor_email, actor_ip: p.actor_ip, actor_type: p.actor_type, resource_type: p.resource_type, resource_id: p.resource_id, zone_id: p.zone_id, zone_name: p.zone_name, old_value: p.old_value, new_value: p.new_value, metadata: p.metadata }),
);
const zoneNameOf = prepared((db, p: { id: string }) => db.selectFrom('zones').select('name').where('id', '=', p.id));

export interface AuditFilter {
  accountId: string;
  /** An entry's sequence number (its id, decoded). */
  seq?: number;
  since?: string;
  before?: string;
  actorEmail?: string;
  actorIp?: string;
  actionType?: string;
  zoneName?: string;
  direction: 'asc' | 'desc';
}

export const auditLogsRepository = {
  insert: (db: Db, row: NewEntry) => insertEntry.run(db, row),

  /** Newest (or oldest) first by sequence; the filters scan (nothing but the sequence is indexed: writes pay for indexes, this is read rarely). */
  async list(db: Db, f: AuditFilter, page: { offset: number; limit: number }): Promise<{ rows: Selectable<AuditLogsTable>[]; total: number }> {
    let q = db.selectFrom('audit_logs').where('account_id', '=', f.accountId);
    if (f.seq !== undefined) q = q.where('seq', '=', f.seq);
    if (f.since !== undefined) q = q.where('when', '>=', f.since);
    if (f.before !== undefined) q = q.where('when', '<', f.before);
    if (f.actorEmail !== undefined) q = q.where('actor_email', '=', f.actorEmail);
    if (f.actorIp !== undefined) q = q.where('actor_ip', '=', f.actorIp);
    if (f.actionType !== undefined) q = q.where('action_type', '=', f.actionType);
    if (f.zoneName !== undefined) q = q.where('zone_name', '=', f.zoneName);
    const total = Number((await q.select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirst())?.n ?? 0);
    const rows = await q.selectAll().orderBy('seq', f.direction).offset(page.offset).limit(page.limit).execute();
    return { rows, total };
  },

  zoneName: async (db: Db, zoneId: string) => (await zoneNameOf.execute(db, { id: zoneId }))[0]?.name ?? null,

  pruneBefore: (db: Db, when: string) => db.deleteFrom('audit_logs').where('when', '<', when).execute(),
};
