import { Type, type Static } from '@sinclair/typebox';
import { Errors } from '../../api/errors.js';
import type { SslSettings } from '../../storage/schema.js';
import { CIPHERS } from '../../pki/ciphers.js';
import { domainNameProblem, isAscii, normaliseHostname } from '../../pki/hostname.js';

/**
 * Request bodies of custom hostnames, checked field by field with Cloudflare's codes. The route
 * schema only guarantees JSON types; every value rule lives here so each refusal names its field.
 */

export interface CertificatePair {
  custom_certificate?: string;
  custom_key?: string;
}

export type { SslSettings } from '../../storage/schema.js';

const OptionalText = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const Pair = Type.Object({ custom_certificate: Type.String(), custom_key: Type.String() });

/**
 * The body of POST and PATCH: JSON types only (the route validates it, and it is the handlers'
 * type); the value rules and their Cloudflare codes are below. `hostname` is checked here, not
 * by the schema, so that a non-string gets 1407 like any other bad hostname.
 */
export const HostnameBodySchema = Type.Object({
  hostname: Type.Optional(Type.Unknown()),
  custom_metadata: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  custom_origin_server: OptionalText,
  custom_origin_sni: OptionalText,
  ssl: Type.Optional(
    Type.Object({
      method: Type.Optional(Type.String()),
      type: Type.Optional(Type.String()),
      bundle_method: Type.Optional(Type.String()),
      certificate_authority: Type.Optional(Type.String()),
      cloudflare_branding: Type.Optional(Type.Boolean()),
      wildcard: Type.Optional(Type.Boolean()),
      custom_csr_id: Type.Optional(Type.String()),
      custom_certificate: Type.Optional(Type.String()),
      custom_key: Type.Optional(Type.String()),
      custom_cert_bundle: Type.Optional(Type.Array(Pair)),
      settings: Type.Optional(Type.Object({})),
    }),
  ),
});

export type HostnameBody = Static<typeof HostnameBodySchema>;
type SslBody = NonNullable<HostnameBody['ssl']>;

/** What a body asks to change; `undefined` = not sent (PATCH keeps it), `null` = clear it. */
export interface ParsedHostnameInput {
  hostname?: string;
  customMetadata?: string | null;
  customOriginServer?: string | null;
  customOriginSni?: string | null;
  ssl: {
    method?: string;
    type?: string;
    bundleMethod?: string;
    certificateAuthority?: string;
    cloudflareBranding?: boolean;
    wildcard?: boolean;
    customCsrId?: string;
    settings: SslSettings;
    /** Certificate/key pairs to store: from custom_cert_bundle, or custom_certificate + custom_key. */
    pairs: CertificatePair[];
  };
}

const METHODS = ['http', 'txt', 'email'];
const BUNDLE_METHODS = ['ubiquitous', 'optimal', 'force'];
const AUTHORITIES = ['digicert', 'google', 'lets_encrypt', 'ssl_com'];
const ON_OFF = ['on', 'off'];
const TLS_VERSIONS = ['1.0', '1.1', '1.2', '1.3'];
const SETTING_NAMES = ['http2', 'tls_1_3', 'min_tls_version', 'ciphers', 'early_hints'];
export const METADATA_LIMIT = 4096;

/** A custom hostname: ASCII (1408), a DNS name of at most 253 characters, a leading `*.` allowed (1407). */
export function parseCustomHostname(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw Errors.invalidHostname('hostname', 'it is missing or empty');
  if (!isAscii(value)) throw Errors.nonAsciiHostname('hostname');
  const hostname = normaliseHostname(value);
  const problem = domainNameProblem(hostname, { allowWildcard: true });
  if (problem) throw Errors.invalidHostname(`hostname "${value}"`, problem);
  return hostname;
}

/** An origin host name: a DNS name, or `localhost` for development (design §3.2). */
export function originProblem(value: string): string | null {
  if (!isAscii(value)) return 'it contains non-ASCII characters';
  const host = normaliseHostname(value);
  if (host === 'localhost') return null;
  return domainNameProblem(host);
}

function parseOrigin(value: string | null | undefined, field: string): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (value === '') return null; // an empty string clears it, as Cloudflare's dashboard does
  if (field === 'custom_origin_sni' && value === ':request_host_header:') return value;
  const problem = originProblem(value);
  if (problem) throw Errors.invalidOrigin(`${field} "${value}": ${problem}`);
  return normaliseHostname(value);
}

/**
 * Cloudflare's custom_metadata: a flat map of string values, at most 4 KB of JSON. Checked
 * before anything walks it, so a deeply nested object is refused at its first level.
 */
function parseMetadata(value: Record<string, unknown> | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'object' || Array.isArray(value)) throw Errors.invalidMetadata('it must be a JSON object');
  for (const key of Object.keys(value)) {
    if (typeof value[key] !== 'string') throw Errors.invalidMetadata(`custom_metadata.${key.slice(0, 64)} must be a string (metadata is a flat map of string values)`);
  }
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > METADATA_LIMIT) {
    throw Errors.invalidMetadata(`it is ${Buffer.byteLength(text)} bytes of JSON, more than the ${METADATA_LIMIT}-byte limit`);
  }
  return text;
}

function parseSettings(value: Record<string, unknown> | undefined): SslSettings {
  if (value === undefined) return {};
  const unknown = Object.keys(value).find((k) => !SETTING_NAMES.includes(k));
  if (unknown) throw Errors.invalidSslAttribute(`ssl.settings.${unknown} is not a setting (use ${SETTING_NAMES.join(', ')})`);
  const settings: SslSettings = {};
  if (value.http2 !== undefined) {
    if (!ON_OFF.includes(value.http2 as string)) throw Errors.invalidHttp2();
    settings.http2 = value.http2 as 'on' | 'off';
  }
  if (value.tls_1_3 !== undefined) {
    if (!ON_OFF.includes(value.tls_1_3 as string)) throw Errors.invalidTls13();
    settings.tls_1_3 = value.tls_1_3 as 'on' | 'off';
  }
  if (value.min_tls_version !== undefined) {
    if (!TLS_VERSIONS.includes(value.min_tls_version as string)) throw Errors.invalidMinTls();
    settings.min_tls_version = value.min_tls_version as SslSettings['min_tls_version'];
  }
  if (value.early_hints !== undefined) {
    if (!ON_OFF.includes(value.early_hints as string)) throw Errors.invalidSslAttribute('ssl.settings.early_hints must be "on" or "off"');
    settings.early_hints = value.early_hints as 'on' | 'off';
  }
  if (value.ciphers !== undefined) {
    const ciphers = value.ciphers;
    if (!Array.isArray(ciphers) || ciphers.some((c) => typeof c !== 'string')) throw Errors.invalidCiphers('it must be a list of cipher names');
    const unknownCipher = ciphers.find((c) => !(c in CIPHERS));
    if (unknownCipher !== undefined) throw Errors.invalidCiphers(`"${unknownCipher}" is not a supported cipher`);
    settings.ciphers = [...new Set(ciphers as string[])];
  }
  return settings;
}

/** Rules that depend on the settings as merged with what is stored. */
export function checkMergedSettings(settings: SslSettings): void {
  if (settings.min_tls_version === '1.3' && settings.ciphers && settings.ciphers.length > 0) throw Errors.ciphersWithTls13();
  if (settings.min_tls_version === '1.3' && settings.tls_1_3 === 'off') {
    throw Errors.invalidSslAttribute('min_tls_version 1.3 needs tls_1_3 on');
  }
}

function parseSsl(ssl: SslBody | undefined): ParsedHostnameInput['ssl'] {
  if (ssl === undefined) return { settings: {}, pairs: [] };
  const out: ParsedHostnameInput['ssl'] = { settings: parseSettings(ssl.settings), pairs: [] };
  if (ssl.method !== undefined) {
    if (!METHODS.includes(ssl.method)) throw Errors.invalidMethod();
    out.method = ssl.method;
  }
  if (ssl.type !== undefined) {
    if (ssl.type !== 'dv') throw Errors.invalidType();
    out.type = ssl.type;
  }
  if (ssl.bundle_method !== undefined) {
    if (!BUNDLE_METHODS.includes(ssl.bundle_method)) throw Errors.invalidBundleMethod();
    out.bundleMethod = ssl.bundle_method;
  }
  if (ssl.certificate_authority !== undefined) {
    if (!AUTHORITIES.includes(ssl.certificate_authority)) {
      throw Errors.invalidSslAttribute(`certificate_authority must be one of ${AUTHORITIES.join(', ')}`);
    }
    out.certificateAuthority = ssl.certificate_authority;
  }
  if (ssl.cloudflare_branding !== undefined) out.cloudflareBranding = ssl.cloudflare_branding;
  if (ssl.wildcard !== undefined) out.wildcard = ssl.wildcard;
  if (ssl.custom_csr_id !== undefined) out.customCsrId = ssl.custom_csr_id;

  const single = ssl.custom_certificate !== undefined || ssl.custom_key !== undefined;
  if (ssl.custom_cert_bundle !== undefined) {
    if (single) throw Errors.invalidSslAttribute('send either custom_cert_bundle or custom_certificate with custom_key, not both');
    const n = ssl.custom_cert_bundle.length;
    if (n < 1 || n > 2) throw Errors.bundleSize(n);
    out.pairs = ssl.custom_cert_bundle;
  } else if (single) {
    out.pairs = [{ custom_certificate: ssl.custom_certificate, custom_key: ssl.custom_key }];
  }
  return out;
}

export function parseCreate(body: HostnameBody): ParsedHostnameInput & { hostname: string } {
  return {
    hostname: parseCustomHostname(body.hostname),
    customMetadata: parseMetadata(body.custom_metadata),
    customOriginServer: parseOrigin(body.custom_origin_server, 'custom_origin_server'),
    customOriginSni: parseOrigin(body.custom_origin_sni, 'custom_origin_sni'),
    ssl: parseSsl(body.ssl),
  };
}

/** A PATCH may repeat the stored hostname (clients send back what they read) but not change it. */
export function parseEdit(body: HostnameBody, storedHostname: string): ParsedHostnameInput {
  if (body.hostname !== undefined && typeof body.hostname !== 'string') throw Errors.invalidHostname('hostname', 'it must be a string');
  if (body.hostname !== undefined && normaliseHostname(body.hostname) !== storedHostname) {
    throw Errors.invalidField('hostname cannot be changed; delete the custom hostname and create a new one');
  }
  return {
    customMetadata: parseMetadata(body.custom_metadata),
    customOriginServer: parseOrigin(body.custom_origin_server, 'custom_origin_server'),
    customOriginSni: parseOrigin(body.custom_origin_sni, 'custom_origin_sni'),
    ssl: parseSsl(body.ssl),
  };
}
