import { sql } from 'kysely';
import type { Db, ZonesTable } from '../../storage/schema.js';
import type { PageRequest } from '../../api/pagination.js';
import { offsetOf } from '../../api/pagination.js';

export interface ZoneFilter {
  accountId: string;
  zoneIds: string[] | null;
  name?: { op: 'equal' | 'not_equal' | 'starts_with' | 'ends_with' | 'contains'; value: string };
  status?: string;
  order: 'name' | 'status' | 'account.id' | 'created_on';
  direction: 'asc' | 'desc';
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);

export const zonesRepository = {
  get: (db: Db, id: string) => db.selectFrom('zones').selectAll().where('id', '=', id).executeTakeFirst(),
  exists: async (db: Db, id: string) => (await db.selectFrom('zones').select('id').where('id', '=', id).executeTakeFirst()) !== undefined,
  getByName: (db: Db, name: string) => db.selectFrom('zones').selectAll().where('name', '=', name).executeTakeFirst(),
  insert: (db: Db, row: ZonesTable) => db.insertInto('zones').values(row).execute(),
  update: (db: Db, id: string, patch: Partial<ZonesTable>) => db.updateTable('zones').set(patch).where('id', '=', id).execute(),
  delete: (db: Db, id: string) => db.deleteFrom('zones').where('id', '=', id).execute(),

  async list(db: Db, f: ZoneFilter, page: PageRequest) {
    let q = db.selectFrom('zones').where('account_id', '=', f.accountId);
    if (f.zoneIds !== null) q = f.zoneIds.length ? q.where('id', 'in', f.zoneIds) : q.where(({ lit }) => lit(false));
    if (f.status) q = q.where('status', '=', f.status);
    if (f.name) {
      const v = escapeLike(f.name.value);
      if (f.name.op === 'equal') q = q.where('name', '=', f.name.value);
      else if (f.name.op === 'not_equal') q = q.where('name', '<>', f.name.value);
      else {
        const pattern = f.name.op === 'starts_with' ? `${v}%` : f.name.op === 'ends_with' ? `%${v}` : `%${v}%`;
        q = q.where(sql<boolean>`name like ${pattern} escape '\\'`);
      }
    }
    const total = await q.select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const column = f.order === 'account.id' ? 'account_id' : f.order;
    const rows = await q
      .selectAll()
      .orderBy(column, f.direction)
      .orderBy('id')
      .limit(page.perPage)
      .offset(offsetOf(page))
      .execute();
    return { rows, total: Number(total.n) };
  },
};
