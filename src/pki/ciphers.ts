/**
 * The cipher names Cloudflare accepts in `ssl.settings.ciphers` (BoringSSL spelling) and the
 * OpenSSL name of each, which the edge hands to Node. TLS 1.3 suites (AEAD-*) are not
 * selectable in OpenSSL's cipher list, so they map to null and only count as "allowed".
 */
export const CIPHERS: Record<string, string | null> = {
  'ECDHE-ECDSA-AES128-GCM-SHA256': 'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305': 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256': 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305': 'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384': 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384': 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-SHA256': 'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256': 'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES128-SHA': 'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA': 'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA384': 'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384': 'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES256-SHA': 'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA': 'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256': 'AES128-GCM-SHA256',
  'AES128-SHA256': 'AES128-SHA256',
  'AES128-SHA': 'AES128-SHA',
  'AES256-GCM-SHA384': 'AES256-GCM-SHA384',
  'AES256-SHA256': 'AES256-SHA256',
  'AES256-SHA': 'AES256-SHA',
  'DES-CBC3-SHA': 'DES-CBC3-SHA',
  'AEAD-AES128-GCM-SHA256': null,
  'AEAD-AES256-GCM-SHA384': null,
  'AEAD-CHACHA20-POLY1305-SHA256': null,
};

/** The OpenSSL cipher string for a hostname's `ciphers` setting (TLS 1.2 and below). */
export function openSslCipherList(names: string[]): string {
  return names.map((n) => CIPHERS[n]).filter((n): n is string => typeof n === 'string').join(':');
}
