import type { AccountsTable } from '../../storage/schema.js';

/** Row → the SDK's `Account` shape. */
export function toAccount(row: AccountsTable) {
  return {
    id: row.id,
    name: row.name,
    type: row.type as 'standard' | 'enterprise',
    created_on: row.created_on,
    settings: { abuse_contact_email: null, enforce_twofactor: false },
  };
}
