import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfig, ConfigError, flagFor } from '../../src/config.js';

test('defaults follow the contract', () => {
  const c = loadConfig({});
  assert.equal(c.dataDir, path.resolve('./data'));
  assert.equal(c.databaseUrl, `sqlite:${path.resolve('./data/edgecert.db')}`);
  assert.deepEqual(c.apiListen, { host: '127.0.0.1', port: 8787 });
  assert.deepEqual(c.edgeListen, { host: '127.0.0.1', port: 8443 });
  assert.equal(c.originScheme, 'https');
  assert.equal(c.originPort, 443);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.role, 'all');
  assert.deepEqual(c.timeouts, { headersMs: 10_000, keepAliveMs: 30_000, idleMs: 60_000 });
  assert.equal(c.edgeMaxConnections, 10_000);
  assert.equal(c.edgeMaxConnectionsPerIp, 256);
  assert.equal(c.tlsResumption, true);
  // One per core but the event loop's, at most four: none on one core.
  assert.equal(c.validationThreads, Math.min(4, availableParallelism() - 1));
  assert.equal(loadConfig({ EDGECERT_VALIDATION_THREADS: '0' }).validationThreads, 0);
  assert.equal(loadConfig({ EDGECERT_VALIDATION_THREADS: '3' }).validationThreads, 3);
});

test('durations: ms, s, m, h or bare seconds', () => {
  const c = loadConfig({ EDGECERT_HEADERS_TIMEOUT: '500ms', EDGECERT_KEEPALIVE_TIMEOUT: '2m', EDGECERT_IDLE_TIMEOUT: '1.5' });
  assert.deepEqual(c.timeouts, { headersMs: 500, keepAliveMs: 120_000, idleMs: 1500 });
});

test('flags override variables', () => {
  const c = loadConfig({ EDGECERT_API_LISTEN: '127.0.0.1:1' }, ['--api-listen', '127.0.0.1:2', '--role=api']);
  assert.equal(c.apiListen.port, 2);
  assert.equal(c.role, 'api');
  assert.equal(flagFor('EDGECERT_TRUST_CA_FILE'), '--trust-ca-file');
});

test('invalid values name their variable', () => {
  const bad: [Record<string, string>, string][] = [
    [{ EDGECERT_DATABASE_URL: 'mysql://x' }, 'EDGECERT_DATABASE_URL'],
    [{ EDGECERT_ORIGIN_SCHEME: 'ftp' }, 'EDGECERT_ORIGIN_SCHEME'],
    [{ EDGECERT_BOOTSTRAP_TOKEN: 'short' }, 'EDGECERT_BOOTSTRAP_TOKEN'],
    [{ EDGECERT_EDGE_LISTEN: ':::' }, 'EDGECERT_EDGE_LISTEN'],
    [{ EDGECERT_ROLE: 'both' }, 'EDGECERT_ROLE'],
    [{ EDGECERT_HEADERS_TIMEOUT: '10 parsecs' }, 'EDGECERT_HEADERS_TIMEOUT'],
    [{ EDGECERT_KEEPALIVE_TIMEOUT: '2h' }, 'EDGECERT_KEEPALIVE_TIMEOUT'],
    [{ EDGECERT_IDLE_TIMEOUT: '0' }, 'EDGECERT_IDLE_TIMEOUT'],
    [{ EDGECERT_EDGE_MAX_CONNECTIONS: '0' }, 'EDGECERT_EDGE_MAX_CONNECTIONS'],
    [{ EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP: 'many' }, 'EDGECERT_EDGE_MAX_CONNECTIONS_PER_IP'],
    [{ EDGECERT_HTTP_LISTEN: '80' }, 'EDGECERT_HTTP_LISTEN'],
    [{ EDGECERT_ALERT_WEBHOOK: 'ftp://hooks.test/x' }, 'EDGECERT_ALERT_WEBHOOK'],
    [{ EDGECERT_ALERT_WEBHOOK: 'https://hooks.test/x', EDGECERT_ALERT_INTERVAL: '0.5s' }, 'EDGECERT_ALERT_INTERVAL'],
    [{ EDGECERT_MASTER_KEY_PREVIOUS: Buffer.alloc(32).toString('base64') }, 'EDGECERT_MASTER_KEY_PREVIOUS'],
    [{ EDGECERT_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'), EDGECERT_MASTER_KEY_PREVIOUS: 'short' }, 'EDGECERT_MASTER_KEY_PREVIOUS'],
    [{ EDGECERT_ACME_DIRECTORY: 'http://acme.test/dir' }, 'EDGECERT_ACME_DIRECTORY'],
    [{ EDGECERT_ACME_DIRECTORY: 'not a url' }, 'EDGECERT_ACME_DIRECTORY'],
    [{ EDGECERT_ACME_DIRECTORIES: 'google=https://g.test/dir' }, 'EDGECERT_ACME_DIRECTORIES'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_DIRECTORIES: 'comodo=https://c.test/dir' }, 'EDGECERT_ACME_DIRECTORIES'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_EMAIL: 'nobody' }, 'EDGECERT_ACME_EMAIL'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_KEY_TYPES: 'dsa' }, 'EDGECERT_ACME_KEY_TYPES'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_KEY_TYPES: 'rsa,rsa' }, 'EDGECERT_ACME_KEY_TYPES'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_RENEW_BEFORE: '5y' }, 'EDGECERT_ACME_RENEW_BEFORE'],
    [{ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir', EDGECERT_ACME_VALIDATION_TIMEOUT: '100d' }, 'EDGECERT_ACME_VALIDATION_TIMEOUT'],
    [{ EDGECERT_TLS_RESUMPTION: 'yes' }, 'EDGECERT_TLS_RESUMPTION'],
    [{ EDGECERT_VALIDATION_THREADS: 'two' }, 'EDGECERT_VALIDATION_THREADS'],
    [{ EDGECERT_VALIDATION_THREADS: '65' }, 'EDGECERT_VALIDATION_THREADS'],
  ];
  for (const [env, variable] of bad) {
    assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.variable === variable);
  }
  const key = Buffer.alloc(32, 7).toString('base64');
  assert.equal(loadConfig({ EDGECERT_MASTER_KEY: key }).masterKey?.length, 32);
});

test('ACME issuance: off unless a directory is set; per-CA directories, key types and windows', () => {
  assert.equal(loadConfig({}).acme, undefined);
  assert.deepEqual(loadConfig({}).httpListen, { host: '127.0.0.1', port: 8080 });
  assert.equal(loadConfig({ EDGECERT_HTTP_LISTEN: 'off' }).httpListen, null);
  const c = loadConfig({
    EDGECERT_ACME_DIRECTORY: 'https://acme-staging-v02.api.letsencrypt.org/directory',
    EDGECERT_ACME_DIRECTORIES: 'google=https://dv.acme-v02.api.pki.goog/directory, lets_encrypt=https://acme-v02.api.letsencrypt.org/directory',
    EDGECERT_ACME_RENEW_BEFORE: '20d',
    EDGECERT_ACME_KEY_TYPES: 'ecdsa',
  }).acme!;
  assert.equal(c.directoryUrl, 'https://acme-staging-v02.api.letsencrypt.org/directory');
  assert.deepEqual(c.directories, { google: 'https://dv.acme-v02.api.pki.goog/directory', lets_encrypt: 'https://acme-v02.api.letsencrypt.org/directory' });
  assert.equal(c.renewBeforeMs, 20 * 86_400_000);
  assert.equal(c.validationTimeoutMs, 7 * 86_400_000);
  assert.deepEqual(c.keyTypes, ['ecdsa']);
  assert.deepEqual(loadConfig({ EDGECERT_ACME_DIRECTORY: 'https://a.test/dir' }).acme!.keyTypes, ['ecdsa', 'rsa']);
});
