import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { API_PREFIX, buildApp } from '../../src/app.js';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

/**
 * One declared contract per route (issue 18): every API route declares its request and
 * response schemas, and the response schema is what is sent — a field the service returns
 * outside it (a private key, say) never leaves the process.
 */
let s: TestServer;
let pki: TestPki;

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

test('every API route declares a response schema for its success status, and schemas for its params and body', async () => {
  const { app, routes } = buildApp(s.running.ctx);
  await app.ready();
  const api = routes.filter((r) => r.url.startsWith(API_PREFIX) && r.method !== 'HEAD');
  assert.ok(api.length >= 20, `${api.length} API routes`);
  for (const r of api) {
    const where = `${r.method} ${r.url}`;
    assert.ok(r.responses.some((code) => /^2\d\d$/.test(code)), `${where}: a 2xx response schema`);
    if (r.url.includes(':')) assert.ok(r.request.params, `${where}: a params schema`);
    if (['POST', 'PUT', 'PATCH'].includes(r.method)) assert.ok(r.request.body, `${where}: a body schema`);
  }
  await app.close();
});

test('a field outside the response schema is not sent, even when a service returns it', async () => {
  const built = buildApp(s.running.ctx);
  const zone = await s.client.zones.create({ name: 'contract-saas.com', account: { id: s.accountId } });
  const leaf = await pki.leaf({ hosts: ['c.contract.test'], keyType: 'ecdsa' });
  const created = await s.api('POST', `/zones/${zone.id}/custom_hostnames`, { hostname: 'c.contract.test', ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
  assert.equal(created.status, 201);
  // A service that (wrongly) hands back the stored key along with the hostname.
  const service = built.services.customHostnames;
  const get = service.get.bind(service);
  service.get = async (...args: Parameters<typeof get>) => {
    const h = await get(...args);
    return Object.assign(h, { key_ciphertext: 'SECRET-1', ssl: Object.assign(h.ssl, { custom_key: 'SECRET-2' }) });
  };
  const res = await built.app.inject({ method: 'GET', url: `${API_PREFIX}/zones/${zone.id}/custom_hostnames/${created.body.result.id}`, headers: { authorization: `Bearer ${s.token}` } });
  assert.equal(res.statusCode, 200);
  assert.doesNotMatch(res.body, /SECRET/);
  assert.equal(JSON.parse(res.body).result.hostname, 'c.contract.test');
  await built.app.close();
});
