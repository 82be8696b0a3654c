/**
 * The one error catalogue. Codes below 1800 are Cloudflare's documented codes (design §1.3);
 * 1800–1899 are edgecert's own, for situations Cloudflare documents no code for. The README
 * lists them all; keep the two in step.
 */
export interface ErrorItem {
  code: number;
  message: string;
  error_chain?: ErrorItem[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ErrorItem[],
    readonly headers: Record<string, string> = {},
  ) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join('; '));
  }
}

const e = (status: number, code: number, message: string) => new ApiError(status, [{ code, message }]);

export const Errors = {
  // --- auth (Cloudflare) ---
  missingCredentials: () => e(400, 9106, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers'),
  invalidHeaders: (chain: ErrorItem[]) =>
    new ApiError(400, [{ code: 6003, message: 'Invalid request headers', error_chain: chain }]),
  chainAuthorization: { code: 6111, message: 'Invalid format for Authorization header' },
  chainEmail: { code: 6102, message: 'Invalid format for X-Auth-Email header' },
  chainKey: { code: 6103, message: 'Invalid format for X-Auth-Key header' },
  invalidToken: () => e(403, 9109, 'Invalid access token'),
  forbidden: () => e(403, 10000, 'Authentication error'),
  rateLimited: (retryAfterSeconds: number) =>
    new ApiError(429, [{ code: 971, message: 'Please wait and consider throttling your request speed' }], {
      'retry-after': String(retryAfterSeconds),
    }),

  // --- routing and request shape (Cloudflare) ---
  couldNotRoute: (path: string) =>
    new ApiError(400, [
      { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      { code: 7000, message: 'No route for that URI' },
    ]),
  noRoute: () => e(400, 7000, 'No route for that URI'),
  invalidJson: (detail: string) => e(400, 1400, `Unable to decode the JSON request body: ${detail}`),
  internal: () => e(500, 1500, 'Internal Server Error'),

  // --- zones (Cloudflare) ---
  zoneExists: (name: string) => e(400, 1061, `${name} already exists`),
  invalidZoneName: (name: string) => e(400, 1803, `Invalid zone name "${name}": expected a domain name of ASCII or punycode labels (each at most 63 characters, 253 in all)`),
  zoneNotFound: () => e(404, 1001, 'Invalid zone identifier'),
  accountNotFound: () => e(404, 1002, 'Invalid account identifier'),

  // --- custom hostnames (Cloudflare) ---
  invalidHostname: (what: string, why: string) =>
    e(400, 1407, `The ${what} is invalid: ${why}. Check your input and try again.`),
  nonAsciiHostname: (what: string) =>
    e(400, 1408, `The ${what} contains non-ASCII characters, which are not supported; use its punycode (xn--) form.`),
  invalidMetadata: (why: string) => e(400, 1401, `The custom metadata is invalid: ${why}.`),
  duplicateHostname: () => e(409, 1406, 'Duplicate custom hostname found.'),
  customHostnameNotFound: () => e(404, 1436, 'The custom hostname was not found.'),
  invalidOrigin: (why: string) => e(400, 1415, `The custom origin server is invalid: ${why}. Check your input and try again.`),
  invalidHttp2: () => e(400, 1422, 'The http2 setting must be "on" or "off". Check your input and try again.'),
  invalidTls13: () => e(400, 1424, 'The tls_1_3 setting must be "on" or "off". Check your input and try again.'),
  invalidMinTls: () => e(400, 1425, 'The min_tls_version setting must be one of "1.0", "1.1", "1.2", "1.3". Check your input and try again.'),
  invalidMethod: () => e(400, 1432, 'The validation method must be "http", "email" or "txt". Check your input and try again.'),
  invalidType: () => e(400, 1433, 'The validation type must be "dv". Check your input and try again.'),
  invalidSslAttribute: (why: string) =>
    e(400, 1434, `The SSL attribute is invalid: ${why}. Refer to the API documentation, check your input and try again.`),
  idFilterExclusive: () => e(400, 1438, 'The id filter cannot be combined with other filters. Check your input and try again.'),
  invalidCiphers: (why: string) => e(400, 1442, `The ciphers setting is invalid: ${why}. Check your input and try again.`),
  ciphersWithTls13: () =>
    e(400, 1443, 'Cipher selection is not supported with a minimum TLS version of 1.3: TLS 1.3 cipher suites are fixed.'),
  quotaExceeded: (cap: number) => e(403, 1405, `The custom hostname quota of this zone (${cap}) is exhausted.`),
  invalidHostnameFilter: (why: string) => e(400, 1437, `The hostname filter is invalid: ${why}. Check your input and try again.`),
  invalidBundleMethod: () =>
    e(400, 1449, 'The bundle_method must be one of "ubiquitous", "optimal" or "force". Check your input and try again.'),

  // --- custom certificates (Cloudflare) ---
  certUnparsable: (why: string) => e(400, 1426, `The certificate that you uploaded cannot be parsed: ${why}.`),
  certEmpty: () => e(400, 1427, 'The certificate that you uploaded is empty.'),
  keyUnparsable: (why: string) => e(400, 1428, `The private key you uploaded cannot be parsed: ${why}.`),
  keyMismatch: () => e(400, 1429, 'The private key you uploaded does not match the certificate.'),
  untrustedChain: (why: string) =>
    e(400, 1441, `The certificate that you uploaded is having trouble bundling against the public trust store: ${why}.`),
  multipleLeaves: () => e(400, 1444, 'The certificate chain that you uploaded has multiple leaf certificates.'),
  noLeaf: () => e(400, 1445, 'The certificate chain that you uploaded has no leaf certificates.'),
  hostnameNotCovered: (hostname: string) =>
    e(400, 1446, `The certificate that you uploaded does not include the custom hostname - ${hostname}. Review your input and try again.`),
  unsupportedSignature: (found: string) =>
    e(400, 1447, `The certificate that you uploaded does not use a supported signature algorithm (found ${found}). Only SHA-256/ECDSA, SHA-384/ECDSA, SHA-256/RSA, and SHA-1/RSA signature algorithms are supported. Review your input and try again.`),
  caQuota: () => e(400, 1489, 'Hit maximum CA cert allocation.'),

  // --- edgecert's own codes (Cloudflare documents none) ---
  invalidField: (detail: string) => e(400, 1800, `Invalid request: ${detail}`),
  bodyTooLarge: (limit: number) => e(413, 1801, `The request body is larger than the ${limit}-byte limit.`),
  unsupportedMediaType: (type: string) => e(415, 1802, `Unsupported content type "${type}": send application/json.`),
  certExpired: (when: string) => e(400, 1810, `The certificate that you uploaded expired on ${when}.`),
  certNotYetValid: (when: string) => e(400, 1811, `The certificate that you uploaded is not valid until ${when}.`),
  weakKey: (what: string) =>
    e(400, 1812, `The certificate's key (${what}) is not supported: use RSA of at least 2048 bits or ECDSA P-256/P-384.`),
  keyTypeMismatch: (expected: string, got: string) =>
    e(400, 1813, `This certificate slot holds an ${expected} certificate; it can only be replaced by an ${expected} certificate, not ${got}.`),
  lastCertificate: () =>
    e(400, 1814, 'The certificate cannot be deleted: it is the only certificate left in the pack, and at least one must remain.'),
  duplicateKeyType: (keyType: string) =>
    e(400, 1815, `The custom_cert_bundle holds two ${keyType} certificates; a pack holds at most one RSA and one ECDSA certificate.`),
  bundleSize: (n: number) =>
    e(400, 1816, `The custom_cert_bundle must hold 1 or 2 certificate/key pairs, got ${n}.`),
  certificatePackNotFound: () => e(404, 1817, 'The certificate pack was not found on this custom hostname.'),
  certificateNotFound: () => e(404, 1818, 'The certificate was not found in this certificate pack.'),
  encryptedKey: () =>
    e(400, 1428, 'The private key you uploaded cannot be parsed: it is encrypted. Upload the key without a passphrase.'),
  invalidFallbackOrigin: (why: string) => e(400, 1825, `The fallback origin is invalid: ${why}.`),
  databaseBusy: (why: string) =>
    new ApiError(503, [{ code: 1826, message: `Nothing was changed: ${why}. Retry the request.` }], { 'retry-after': '1' }),
  fallbackOriginNotFound: () => e(404, 1819, 'No fallback origin is set for this zone.'),
  mtlsCertificateNotFound: (id?: string) =>
    e(404, 1820, id ? `The mTLS certificate ${id} was not found in this zone's account.` : 'The mTLS certificate was not found in this account.'),
  mtlsInvalid: (why: string) => e(400, 1821, `The mTLS certificate upload is invalid: ${why}.`),
  mtlsInUse: (n: number) =>
    e(409, 1822, `The certificate is still associated with ${n} hostname(s); replace its hostname associations with an empty list first.`),
  associationHostnameOutsideZone: (hostname: string) =>
    e(400, 1823, `The hostname ${hostname} does not belong to this zone: use the zone name, a subdomain of it, or one of its custom hostnames.`),
  associationNotCa: () => e(400, 1824, 'The mTLS certificate is not a CA certificate (ca: false); only CAs can be associated with hostnames.'),
  storageUnwritable: (why: string) =>
    e(507, 1828, `Nothing was changed: the database cannot be written (${why}). The operator must make the data directory writable again.`),
  rsaKeyTooLarge: (bits: number, max: number) =>
    e(400, 1827, `The certificate's RSA key has ${bits} bits; RSA keys above ${max} bits are not accepted, since each handshake would cost many times the CPU of a 2048-bit key. Use RSA 2048-${max} or ECDSA P-256/P-384.`),
  tokenNotFound: () => e(404, 1830, 'The API token was not found.'),
} as const;
