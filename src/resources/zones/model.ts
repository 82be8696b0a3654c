import type { ZonesTable } from '../../storage/schema.js';

/** Row → the SDK's `Zone` shape. Fields edgecert has no notion of get their neutral values. */
export function toZone(row: ZonesTable, account: { id: string; name: string }) {
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
