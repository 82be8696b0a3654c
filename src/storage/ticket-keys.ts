import type { Db, TlsTicketKeysTable } from './schema.js';

/** The edge's TLS session-ticket keys, one per rotation slot (edge/ticket-keys.ts). */
export const ticketKeysRepository = {
  /** Idempotent: the first process to create a slot's key wins; the others keep it. */
  insertIfAbsent: (db: Db, row: TlsTicketKeysTable) =>
    db.insertInto('tls_ticket_keys').values(row).onConflict((oc) => oc.column('slot').doNothing()).execute(),
  deleteBefore: (db: Db, slot: number) => db.deleteFrom('tls_ticket_keys').where('slot', '<', slot).execute(),
  between: (db: Db, first: number, last: number) => db.selectFrom('tls_ticket_keys').selectAll().where('slot', '>=', first).where('slot', '<=', last).execute(),
};
