import { Type, type Static } from '@sinclair/typebox';
import type { Selectable } from 'kysely';
import type { AuditLogsTable } from '../../storage/schema.js';

/** The SDK's AuditLog (Shared.AuditLog). */
export const AuditLog = Type.Object({
  id: Type.String(),
  action: Type.Object({ type: Type.String(), result: Type.Boolean() }),
  actor: Type.Object({ id: Type.String(), email: Type.Optional(Type.String()), ip: Type.String(), type: Type.String() }),
  interface: Type.String(),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  newValue: Type.Optional(Type.String()),
  oldValue: Type.Optional(Type.String()),
  newValueJson: Type.Optional(Type.Unknown()),
  oldValueJson: Type.Optional(Type.Unknown()),
  owner: Type.Object({ id: Type.String() }),
  resource: Type.Object({ id: Type.Optional(Type.String()), type: Type.String() }),
  when: Type.String(),
});

/** An entry's id: its sequence number as 32 hex digits (the shape of Cloudflare's ids). */
export const idOf = (seq: number | string | bigint) => BigInt(seq).toString(16).padStart(32, '0');
/** The sequence an id names; undefined for anything edgecert never handed out (beyond a safe integer: PostgreSQL's bigint refuses it). */
export function seqOf(id: string): number | undefined {
  if (!/^[0-9a-f]{1,32}$/i.test(id)) return undefined;
  const n = BigInt(`0x${id}`);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export function toAuditLog(row: Selectable<AuditLogsTable>): Static<typeof AuditLog> {
  return {
    id: idOf(row.seq),
    action: { type: row.action_type, result: true },
    actor: { id: row.actor_id, ...(row.actor_email ? { email: row.actor_email } : {}), ip: row.actor_ip, type: row.actor_type },
    interface: 'API',
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    ...(row.new_value !== null ? { newValue: row.new_value, newValueJson: JSON.parse(row.new_value) as unknown } : {}),
    ...(row.old_value !== null ? { oldValue: row.old_value, oldValueJson: JSON.parse(row.old_value) as unknown } : {}),
    owner: { id: row.account_id },
    resource: { ...(row.resource_id ? { id: row.resource_id } : {}), type: row.resource_type },
    when: row.when,
  };
}
