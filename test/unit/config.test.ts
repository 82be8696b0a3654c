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
  ];
  for (const [env, variable] of bad) {
    assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.variable === variable);
  }
  const key = Buffer.alloc(32, 7).toString('base64');
  assert.equal(loadConfig({ EDGECERT_MASTER_KEY: key }).masterKey?.length, 32);
});
