import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';

/** One typed configuration, read from EDGECERT_* variables; every variable also has a flag. */
export interface Config {
  dataDir: string;
  databaseUrl: string;
  apiListen: { host: string; port: number };
  edgeListen: { host: string; port: number };
  trustCaFile: string | undefined;
  masterKey: Buffer | undefined;
  /** Master keys rows may still be sealed with while a rotation runs (EDGECERT_MASTER_KEY_PREVIOUS). */
  previousMasterKeys: Buffer[];
  bootstrapToken: string | undefined;
  bootstrapEmail: string | undefined;
  bootstrapApiKey: string | undefined;
  originScheme: 'http' | 'https';
  originPort: number;
  logLevel: string;
  /** JSON lines (pino), or readable lines for a person at a terminal. */
  logFormat: 'json' | 'pretty';
  role: 'api' | 'edge' | 'all';
  /** Hostnames whose TLS configuration the edge keeps built (LRU). */
  tlsCacheSize: number;
  /** Connection timeouts, edge and API alike (milliseconds). */
  timeouts: Timeouts;
  /** Open edge connections in all, and from one client address. */
  edgeMaxConnections: number;
  edgeMaxConnectionsPerIp: number;
  /** Edge processes sharing the edge listener (1: the edge runs in the API's process). */
  edgeWorkers: number;
  /** Certificate-validation threads of an API process (0: on its event loop). See resources/custom-hostnames/validation-pool.ts. */
  validationThreads: number;
  /** How often an edge polls the change feed besides being woken (undefined: 250 ms on SQLite, 1 s on PostgreSQL, where NOTIFY wakes it). */
  changePollMs?: number;
  /** How long an edge worker may take from fork to listening before it is killed (and replaced). */
  edgeWorkerStartupMs: number;
  /** TLS session resumption with tickets shared by every worker and node. */
  tlsResumption: boolean;
  /** How long a ticket key issues tickets; it then decrypts for two more periods. */
  ticketKeyRotationMs: number;
  /** A listener of its own for GET /metrics (edge-only nodes have no API listener); null: none. */
  metricsListen: { host: string; port: number } | null;
  /** The plain HTTP listener of edge nodes (ACME HTTP-01 answers, ownership tokens, redirects); null: off. */
  httpListen: { host: string; port: number } | null;
  /** Certificate issuance through ACME; undefined: not configured (hostnames without a certificate wait for one). */
  acme: AcmeConfig | undefined;
  /** Certificate expiry alerts to a webhook; undefined: none. */
  alerts: { webhook: string; intervalMs: number } | undefined;
  /** Record an audit log entry per API write (EDGECERT_AUDIT_LOG, on by default). */
  auditLog: boolean;
  /** How long audit log entries are kept. */
  auditRetentionMs: number;
}

export interface AcmeConfig {
  /** The directory used when `ssl.certificate_authority` names none of `directories`. */
  directoryUrl: string;
  /** Per `ssl.certificate_authority` (lets_encrypt, google, ssl_com, digicert). */
  directories: Record<string, string>;
  email: string | undefined;
  /** Extra CA certificates to trust for the ACME server's own HTTPS (a private or test CA). */
  caFile: string | undefined;
  renewBeforeMs: number;
  validationTimeoutMs: number;
  pollMs: number;
  keyTypes: Array<'ecdsa' | 'rsa'>;
}

export interface Timeouts {
  /** To finish the TLS handshake, and to send a request's complete headers. */
  headersMs: number;
  /** A kept-alive connection (or an HTTP/2 session without open streams) waiting for its next request. */
  keepAliveMs: number;
  /** No byte either way while a request is in flight (slow body, stalled reader). */
  idleMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

/** Variable name → flag name: EDGECERT_API_LISTEN ↔ --api-listen. */
export const VARIABLES = [
  'EDGECERT_DATA_DIR',
  'EDGECERT_DATABASE_URL',
  'EDGECERT_API_LISTEN',
  'EDGECERT_EDGE_LISTEN',
  'EDGECERT_TRUST_CA_FILE',
  'EDGECERT_MASTER_KEY',
  'EDGECERT_MASTER_KEY_PREVIOUS',
  'EDGECERT_BOOTSTRAP_TOKEN',
  'EDGECERT_BOOTSTRAP_EMAIL',
  'EDGECERT_BOOTSTRAP_API_KEY',
  'EDGECERT_ORIGIN_SCHEME',
  'EDGECERT_ORIGIN_PORT',
  'EDGECERT_LOG_LEVEL',
  'EDGECERT_LOG_FORMAT',
  'EDGECERT_ROLE',
  'EDGECERT_TLS_CACHE_SIZE',
  'EDGECERT_HEADERS_TIMEOUT',
  'EDGECERT_KEEPALIVE_TIMEOUT',
  'EDGECERT_IDLE_TIMEOUT',
  'EDGECERT_EDGE_MAX_CONNECTIONS',
  'EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP',
  'EDGECERT_EDGE_WORKERS',
  'EDGECERT_VALIDATION_THREADS',
  'EDGECERT_CHANGE_POLL_INTERVAL',
  'EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT',
  'EDGECERT_TLS_RESUMPTION',
  'EDGECERT_TLS_TICKET_ROTATION',
  'EDGECERT_HTTP_LISTEN',
  'EDGECERT_METRICS_LISTEN',
  'EDGECERT_ACME_DIRECTORY',
  'EDGECERT_ACME_DIRECTORIES',
  'EDGECERT_ACME_EMAIL',
  'EDGECERT_ACME_CA_FILE',
  'EDGECERT_ACME_RENEW_BEFORE',
  'EDGECERT_ACME_VALIDATION_TIMEOUT',
  'EDGECERT_ACME_POLL_INTERVAL',
  'EDGECERT_ACME_KEY_TYPES',
  'EDGECERT_ALERT_WEBHOOK',
  'EDGECERT_ALERT_INTERVAL',
  'EDGECERT_AUDIT_LOG',
  'EDGECERT_AUDIT_RETENTION',
] as const;

export const flagFor = (variable: string): string =>
  '--' + variable.replace(/^EDGECERT_/, '').toLowerCase().replace(/_/g, '-');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Merge flags over the environment; unknown flags are configuration errors too. */
export function collectSettings(env: NodeJS.ProcessEnv, argv: string[]): Record<string, string | undefined> {
  const settings: Record<string, string | undefined> = {};
  for (const v of VARIABLES) settings[v] = env[v] === '' ? undefined : env[v];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(arg, 'unexpected argument');
    const [flag, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    const variable = VARIABLES.find((v) => flagFor(v) === flag);
    if (!variable) throw new ConfigError(flag, 'unknown flag');
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(variable, `${flag} needs a value`);
    settings[variable] = value;
  }
  return settings;
}

function parseListen(variable: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(variable, `expected host:port, got "${value}"`);
  }
  if (host !== 'localhost' && !isIP(host) && !/^[a-z0-9.-]+$/i.test(host)) {
    throw new ConfigError(variable, `invalid host "${host}"`);
  }
  return { host, port };
}

/** `500ms`, `10s`, `2m`, `1h`, `30d`, or a bare number of seconds; between `min` and `max` (100 ms and 1 h by default). */
export function parseDuration(variable: string, value: string, bounds: { min: number; max: number; text: string } = { min: 100, max: 3_600_000, text: '100ms to 1h' }): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(ms >= bounds.min && ms <= bounds.max)) {
    throw new ConfigError(variable, `expected a duration from ${bounds.text} (like 500ms, 10s, 2m), got "${value}"`);
  }
  return Math.round(ms);
}

function parseCount(variable: string, value: string | undefined, fallback: number, max: number): number {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(variable, `must be a whole number 1-${max}, got "${value}"`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv, argv: string[] = []): Config {
  const s = collectSettings(env, argv);
  const dataDir = path.resolve(s.EDGECERT_DATA_DIR ?? './data');
  const databaseUrl = s.EDGECERT_DATABASE_URL ?? `sqlite:${path.join(dataDir, 'edgecert.db')}`;
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(databaseUrl)) {
    throw new ConfigError('EDGECERT_DATABASE_URL', 'must start with sqlite: or postgres://');
  }
  let masterKey: Buffer | undefined;
  if (s.EDGECERT_MASTER_KEY !== undefined) {
    masterKey = Buffer.from(s.EDGECERT_MASTER_KEY, 'base64');
    if (masterKey.length !== 32 || !/^[A-Za-z0-9+/]+=*$/.test(s.EDGECERT_MASTER_KEY)) {
      throw new ConfigError('EDGECERT_MASTER_KEY', 'must be the base64 encoding of exactly 32 bytes');
    }
  }
  const previousMasterKeys = (s.EDGECERT_MASTER_KEY_PREVIOUS ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '').map((text) => {
    const key = Buffer.from(text, 'base64');
    if (key.length !== 32 || !/^[A-Za-z0-9+/]+=*$/.test(text)) throw new ConfigError('EDGECERT_MASTER_KEY_PREVIOUS', 'must be base64 encodings of exactly 32 bytes, separated by commas');
    return key;
  });
  if (previousMasterKeys.length > 0 && !masterKey) {
    throw new ConfigError('EDGECERT_MASTER_KEY_PREVIOUS', 'goes with EDGECERT_MASTER_KEY (the new key); with a master.key file, edgecert rotate-master-key keeps the previous key in master.key.previous');
  }
  const scheme = s.EDGECERT_ORIGIN_SCHEME ?? 'https';
  if (scheme !== 'http' && scheme !== 'https') {
    throw new ConfigError('EDGECERT_ORIGIN_SCHEME', `must be http or https, got "${scheme}"`);
  }
  const originPort = Number(s.EDGECERT_ORIGIN_PORT ?? '443');
  if (!Number.isInteger(originPort) || originPort < 1 || originPort > 65535) {
    throw new ConfigError('EDGECERT_ORIGIN_PORT', `must be a port number 1-65535, got "${s.EDGECERT_ORIGIN_PORT}"`);
  }
  const logLevel = s.EDGECERT_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('EDGECERT_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  // auto: readable when a person watches (stdout is a terminal), JSON lines for the journal or a file.
  const logFormat = s.EDGECERT_LOG_FORMAT ?? 'auto';
  if (logFormat !== 'auto' && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new ConfigError('EDGECERT_LOG_FORMAT', `must be auto, json or pretty, got "${logFormat}"`);
  }
  const role = s.EDGECERT_ROLE ?? 'all';
  if (role !== 'api' && role !== 'edge' && role !== 'all') {
    throw new ConfigError('EDGECERT_ROLE', `must be api, edge or all, got "${role}"`);
  }
  const tlsCacheSize = Number(s.EDGECERT_TLS_CACHE_SIZE ?? '10000');
  if (!Number.isInteger(tlsCacheSize) || tlsCacheSize < 1 || tlsCacheSize > 10_000_000) {
    throw new ConfigError('EDGECERT_TLS_CACHE_SIZE', `must be a whole number 1-10000000, got "${s.EDGECERT_TLS_CACHE_SIZE}"`);
  }
  const timeouts: Timeouts = {
    headersMs: parseDuration('EDGECERT_HEADERS_TIMEOUT', s.EDGECERT_HEADERS_TIMEOUT ?? '10s'),
    keepAliveMs: parseDuration('EDGECERT_KEEPALIVE_TIMEOUT', s.EDGECERT_KEEPALIVE_TIMEOUT ?? '30s'),
    idleMs: parseDuration('EDGECERT_IDLE_TIMEOUT', s.EDGECERT_IDLE_TIMEOUT ?? '60s'),
  };
  const edgeMaxConnections = parseCount('EDGECERT_EDGE_MAX_CONNECTIONS', s.EDGECERT_EDGE_MAX_CONNECTIONS, 10_000, 1_000_000);
  const edgeMaxConnectionsPerIp = parseCount('EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP', s.EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP, 256, 1_000_000);
  const edgeWorkers = parseCount('EDGECERT_EDGE_WORKERS', s.EDGECERT_EDGE_WORKERS, availableParallelism(), 256);
  // One per core but the event loop's, at most four; none on a single core, where a thread
  // would only add its messages to that core's work.
  const validationThreads =
    s.EDGECERT_VALIDATION_THREADS === undefined ? Math.min(4, availableParallelism() - 1)
    : s.EDGECERT_VALIDATION_THREADS === '0' ? 0
    : parseCount('EDGECERT_VALIDATION_THREADS', s.EDGECERT_VALIDATION_THREADS, 1, 64);
  const edgeWorkerStartupMs = parseDuration('EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT', s.EDGECERT_EDGE_WORKER_STARTUP_TIMEOUT ?? '5m');
  const changePollMs =
    s.EDGECERT_CHANGE_POLL_INTERVAL === undefined ? undefined : parseDuration('EDGECERT_CHANGE_POLL_INTERVAL', s.EDGECERT_CHANGE_POLL_INTERVAL, { min: 50, max: 86_400_000, text: '50ms to 24h' });
  const ticketKeyRotationMs = parseDuration('EDGECERT_TLS_TICKET_ROTATION', s.EDGECERT_TLS_TICKET_ROTATION ?? '1h', { min: 10_000, max: 86_400_000, text: '10s to 24h' });
  const bootstrapToken = s.EDGECERT_BOOTSTRAP_TOKEN;
  if (bootstrapToken !== undefined && !/^[A-Za-z0-9_-]{40,}$/.test(bootstrapToken)) {
    throw new ConfigError('EDGECERT_BOOTSTRAP_TOKEN', 'must be at least 40 url-safe characters (A-Z a-z 0-9 _ -)');
  }
  const email = s.EDGECERT_BOOTSTRAP_EMAIL;
  const apiKey = s.EDGECERT_BOOTSTRAP_API_KEY;
  if ((email === undefined) !== (apiKey === undefined)) {
    throw new ConfigError(
      email === undefined ? 'EDGECERT_BOOTSTRAP_EMAIL' : 'EDGECERT_BOOTSTRAP_API_KEY',
      'EDGECERT_BOOTSTRAP_EMAIL and EDGECERT_BOOTSTRAP_API_KEY must be set together',
    );
  }
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    throw new ConfigError('EDGECERT_BOOTSTRAP_EMAIL', 'must be an email address');
  }
  if (apiKey !== undefined && !/^[A-Za-z0-9]{32,}$/.test(apiKey)) {
    throw new ConfigError('EDGECERT_BOOTSTRAP_API_KEY', 'must be at least 32 alphanumeric characters');
  }
  const httpListen = s.EDGECERT_HTTP_LISTEN === 'off' ? null : parseListen('EDGECERT_HTTP_LISTEN', s.EDGECERT_HTTP_LISTEN ?? '127.0.0.1:8080');
  return {
    httpListen,
    metricsListen: s.EDGECERT_METRICS_LISTEN === undefined || s.EDGECERT_METRICS_LISTEN === 'off' ? null : parseListen('EDGECERT_METRICS_LISTEN', s.EDGECERT_METRICS_LISTEN),
    acme: loadAcmeConfig(s),
    alerts: loadAlertConfig(s),
    auditLog: onOff('EDGECERT_AUDIT_LOG', s.EDGECERT_AUDIT_LOG, true),
    auditRetentionMs: parseDuration('EDGECERT_AUDIT_RETENTION', s.EDGECERT_AUDIT_RETENTION ?? '365d', { min: 3_600_000, max: 3650 * 86_400_000, text: '1h to 3650d' }),
    dataDir,
    databaseUrl,
    apiListen: parseListen('EDGECERT_API_LISTEN', s.EDGECERT_API_LISTEN ?? '127.0.0.1:8787'),
    edgeListen: parseListen('EDGECERT_EDGE_LISTEN', s.EDGECERT_EDGE_LISTEN ?? '127.0.0.1:8443'),
    trustCaFile: s.EDGECERT_TRUST_CA_FILE,
    masterKey,
    previousMasterKeys,
    bootstrapToken,
    bootstrapEmail: email?.toLowerCase(),
    bootstrapApiKey: apiKey,
    tlsCacheSize,
    timeouts,
    edgeMaxConnections,
    edgeMaxConnectionsPerIp,
    edgeWorkers,
    validationThreads,
    changePollMs,
    edgeWorkerStartupMs,
    tlsResumption: onOff('EDGECERT_TLS_RESUMPTION', s.EDGECERT_TLS_RESUMPTION, true),
    ticketKeyRotationMs,
    originScheme: scheme,
    originPort,
    logLevel,
    logFormat: logFormat === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : logFormat,
    role,
  };
}

const DAY = 86_400_000;
const CERTIFICATE_AUTHORITIES = ['lets_encrypt', 'google', 'ssl_com', 'digicert'];

function httpsUrl(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `expected an https:// ACME directory URL, got "${value}"`);
  }
  if (url.protocol !== 'https:') throw new ConfigError(variable, `an ACME directory is reached over https://, got "${value}"`);
  return url.toString();
}

/** EDGECERT_ACME_*: issuance is on when a directory is set. */
function loadAcmeConfig(s: Record<string, string | undefined>): AcmeConfig | undefined {
  const directories: Record<string, string> = {};
  for (const entry of (s.EDGECERT_ACME_DIRECTORIES ?? '').split(',').filter((e) => e.trim() !== '')) {
    const [ca, url] = entry.split(/=(.*)/s, 2).map((p) => p.trim()) as [string, string | undefined];
    if (!CERTIFICATE_AUTHORITIES.includes(ca) || !url) {
      throw new ConfigError('EDGECERT_ACME_DIRECTORIES', `expected ca=https://… pairs with ca one of ${CERTIFICATE_AUTHORITIES.join(', ')}, got "${entry}"`);
    }
    directories[ca] = httpsUrl('EDGECERT_ACME_DIRECTORIES', url);
  }
  if (s.EDGECERT_ACME_DIRECTORY === undefined) {
    if (Object.keys(directories).length > 0) throw new ConfigError('EDGECERT_ACME_DIRECTORIES', 'needs EDGECERT_ACME_DIRECTORY too (the directory for every other certificate_authority)');
    return undefined;
  }
  const email = s.EDGECERT_ACME_EMAIL;
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new ConfigError('EDGECERT_ACME_EMAIL', 'must be an email address');
  const keyTypes = (s.EDGECERT_ACME_KEY_TYPES ?? 'ecdsa,rsa').split(',').map((k) => k.trim());
  if (keyTypes.length === 0 || keyTypes.some((k) => k !== 'ecdsa' && k !== 'rsa') || new Set(keyTypes).size !== keyTypes.length) {
    throw new ConfigError('EDGECERT_ACME_KEY_TYPES', `must be ecdsa, rsa or ecdsa,rsa, got "${s.EDGECERT_ACME_KEY_TYPES}"`);
  }
  return {
    directoryUrl: httpsUrl('EDGECERT_ACME_DIRECTORY', s.EDGECERT_ACME_DIRECTORY),
    directories,
    email,
    caFile: s.EDGECERT_ACME_CA_FILE,
    renewBeforeMs: parseDuration('EDGECERT_ACME_RENEW_BEFORE', s.EDGECERT_ACME_RENEW_BEFORE ?? '30d', { min: 60_000, max: 3650 * DAY, text: '1m to 3650d' }),
    validationTimeoutMs: parseDuration('EDGECERT_ACME_VALIDATION_TIMEOUT', s.EDGECERT_ACME_VALIDATION_TIMEOUT ?? '7d', { min: 1000, max: 90 * DAY, text: '1s to 90d' }),
    pollMs: parseDuration('EDGECERT_ACME_POLL_INTERVAL', s.EDGECERT_ACME_POLL_INTERVAL ?? '10s', { min: 100, max: DAY, text: '100ms to 1d' }),
    keyTypes: keyTypes as Array<'ecdsa' | 'rsa'>,
  };
}

/** EDGECERT_ALERT_*: expiry alerts are on when a webhook is set. */
function loadAlertConfig(s: Record<string, string | undefined>): Config['alerts'] {
  const intervalMs = parseDuration('EDGECERT_ALERT_INTERVAL', s.EDGECERT_ALERT_INTERVAL ?? '1h', { min: 1000, max: DAY, text: '1s to 1d' });
  if (s.EDGECERT_ALERT_WEBHOOK === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(s.EDGECERT_ALERT_WEBHOOK);
  } catch {
    throw new ConfigError('EDGECERT_ALERT_WEBHOOK', `expected an http:// or https:// URL, got "${s.EDGECERT_ALERT_WEBHOOK}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('EDGECERT_ALERT_WEBHOOK', `expected an http:// or https:// URL, got "${s.EDGECERT_ALERT_WEBHOOK}"`);
  return { webhook: url.toString(), intervalMs };
}

function onOff(variable: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value !== 'on' && value !== 'off') throw new ConfigError(variable, `must be on or off, got "${value}"`);
  return value === 'on';
}
