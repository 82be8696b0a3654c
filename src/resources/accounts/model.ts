import { Type, type Static } from '@sinclair/typebox';
import type { AccountsTable } from '../../storage/schema.js';
import { NullableString, StringEnum } from '../../api/responses.js';

/** The SDK's `Account` shape: the response contract of the account routes. */
export const Account = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: StringEnum('standard', 'enterprise'),
  created_on: Type.String(),
  settings: Type.Object({ abuse_contact_email: NullableString(), enforce_twofactor: Type.Boolean() }),
});

/** Row → the SDK's `Account` shape. */
export function toAccount(row: AccountsTable): Static<typeof Account> {
  return {
    id: row.id,
    name: row.name,
    type: row.type as 'standard' | 'enterprise',
    created_on: row.created_on,
    settings: { abuse_contact_email: null, enforce_twofactor: false },
  };
}
