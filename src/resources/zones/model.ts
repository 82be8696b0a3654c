import { Type, type Static } from '@sinclair/typebox';
import type { ZonesTable } from '../../storage/schema.js';
import { NullableString, NullableStrings, StringEnum } from '../../api/responses.js';

const Strings = Type.Array(Type.String());

/** The SDK's `Zone` shape: the response contract of the zone routes. */
export const Zone = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: StringEnum('initializing', 'pending', 'active', 'moved'),
  paused: Type.Boolean(),
  type: StringEnum('full', 'partial', 'secondary', 'internal'),
  development_mode: Type.Number(),
  name_servers: Strings,
  original_name_servers: NullableStrings(),
  original_registrar: NullableString(),
  original_dnshost: NullableString(),
  created_on: Type.String(),
  modified_on: Type.String(),
  activated_on: NullableString(),
  vanity_name_servers: Strings,
  permissions: Strings,
  meta: Type.Object({
    cdn_only: Type.Boolean(),
    custom_certificate_quota: Type.Integer(),
    dns_only: Type.Boolean(),
    foundation_dns: Type.Boolean(),
    page_rule_quota: Type.Integer(),
    phishing_detected: Type.Boolean(),
    step: Type.Integer(),
  }),
  owner: Type.Object({ id: Type.String(), name: Type.String(), type: Type.String() }),
  account: Type.Object({ id: Type.String(), name: Type.String() }),
  plan: Type.Object({
    id: Type.String(),
    name: Type.String(),
    price: Type.Number(),
    currency: Type.String(),
    frequency: Type.String(),
    is_subscribed: Type.Boolean(),
    can_subscribe: Type.Boolean(),
    legacy_id: Type.String(),
    legacy_discount: Type.Boolean(),
    externally_managed: Type.Boolean(),
  }),
});

/** Row → the SDK's `Zone` shape. Fields edgecert has no notion of get their neutral values. */
export function toZone(row: ZonesTable, account: { id: string; name: string }): Static<typeof Zone> {
  return {
    id: row.id,
    name: row.name,
    status: row.status as 'initializing' | 'pending' | 'active' | 'moved',
    paused: row.paused === 1,
    type: row.type as 'full' | 'partial' | 'secondary' | 'internal',
    development_mode: 0,
    name_servers: [] as string[],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: row.created_on,
    modified_on: row.modified_on,
    activated_on: row.activated_on,
    vanity_name_servers: [] as string[],
    permissions: [] as string[],
    meta: {
      cdn_only: false,
      custom_certificate_quota: 0,
      dns_only: false,
      foundation_dns: false,
      page_rule_quota: 0,
      phishing_detected: false,
      step: 2,
    },
    owner: { id: account.id, name: account.name, type: 'organization' },
    account: { id: account.id, name: account.name },
    plan: {
      id: '00000000000000000000000000000000',
      name: 'Self-hosted',
      price: 0,
      currency: 'USD',
      frequency: '',
      is_subscribed: true,
      can_subscribe: false,
      legacy_id: 'self_hosted',
      legacy_discount: false,
      externally_managed: true,
    },
  };
}
