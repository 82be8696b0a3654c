import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Certificate expiry alerts to a webhook receiver on loopback, from two API nodes on one
 * database: one POST per certificate and threshold, retried after the receiver fails, and not
 * sent again after a restart.
 */
let pki: TestPki;
let a: TestServer;
let b: TestServer;
let receiver: http.Server;
let failFirst = 2;
const received: Array<{ status: number; body: any }> = [];
const DAY = 86_400_000;

before(async () => {
  pki = await makeTestPki();
  receiver = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      const status = failFirst-- > 0 ? 500 : 204;
      received.push({ status, body: JSON.parse(data) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const env = { EDGECERT_ALERT_WEBHOOK: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/certs`, EDGECERT_ALERT_INTERVAL: '1s' };
  a = await startTestServer({ trustPem: pki.trustPem, env });
  b = await startTestServer({ trustPem: pki.trustPem, env, dataDir: a.dataDir, databaseUrl: a.databaseUrl, bootstrapToken: a.token });
});
after(async () => {
  await b?.close();
  await a?.close();
  receiver?.close();
});

async function withPack(zoneId: string, hostname: string, notAfter: Date) {
  const pairs = await Promise.all((['rsa', 'ecdsa'] as const).map((keyType) => pki.leaf({ hosts: [hostname], keyType, notAfter })));
  const r = await a.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname, ssl: { custom_cert_bundle: pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.result.ssl.certificates.map((c: any) => c.id as string);
}

test('one alert per certificate and threshold crossed, the most urgent only, retried until delivered, never twice', async () => {
  const zoneId = (await a.api('POST', '/zones', { name: 'alerts.test', account: { id: a.accountId } })).body.result.id;
  const now = Date.now();
  const in5days = await withPack(zoneId, 'five.alerts.test', new Date(now + 5 * DAY));
  const in20days = await withPack(zoneId, 'twenty.alerts.test', new Date(now + 20 * DAY));
  await withPack(zoneId, 'far.alerts.test', new Date(now + 200 * DAY));
  const expiring = await withPack(zoneId, 'now.alerts.test', new Date(now + 4000));
  const caLeaf = await pki.leaf({ hosts: ['ca.alerts.test'], keyType: 'ecdsa', ca: true, notAfter: new Date(now + 10 * DAY) });
  const ca = (await a.api('POST', `/accounts/${a.accountId}/mtls_certificates`, { name: 'partners', ca: true, certificates: caLeaf.certPem })).body.result;

  const expected = new Map<string, number>([
    ...in5days.map((id: string) => [`${id}@7`, 1] as const),
    ...in20days.map((id: string) => [`${id}@30`, 1] as const),
    ...expiring.map((id: string) => [`${id}@1`, 1] as const),
    ...expiring.map((id: string) => [`${id}@0`, 1] as const),
    [`${ca.id}@14`, 1],
  ]);
  const delivered = () => {
    const counts = new Map<string, number>();
    for (const r of received.filter((x) => x.status === 204)) {
      const k = `${r.body.certificate.id}@${r.body.threshold_days}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return counts;
  };
  await eventually(async () => delivered(), (d) => [...expected.keys()].every((k) => d.has(k)), 'every alert delivered', 30_000);
  // A moment more: nothing further arrives (no duplicates from the second node, no less urgent thresholds).
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(new Map([...delivered()].sort()), new Map([...expected].sort()));
  assert.equal(received.filter((x) => x.status === 500).length, 2, 'the two failed attempts were retried');

  const expired = received.find((r) => r.status === 204 && r.body.threshold_days === 0)!.body;
  assert.equal(expired.event, 'certificate.expired');
  const five = received.find((r) => r.status === 204 && r.body.threshold_days === 7)!.body;
  assert.equal(five.event, 'certificate.expiring');
  assert.equal(five.certificate.hostname, 'five.alerts.test');
  assert.equal(five.certificate.zone, 'alerts.test');
  assert.ok([4, 5].includes(five.days_left));
  assert.equal(received.find((r) => r.body.certificate.id === ca.id)!.body.certificate.kind, 'mtls_ca');
  assert.doesNotMatch(JSON.stringify(received), /PRIVATE KEY|BEGIN CERTIFICATE/);

  // Failures are visible in the metrics of whichever node tried.
  const failed = async (s: TestServer) => Number(/edgecert_expiry_alerts_total\{result="failed"\} (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 0);
  assert.equal((await failed(a)) + (await failed(b)), 2);

  // Thresholds already sent survive a restart of both nodes.
  const before = received.length;
  await b.close();
  a = await a.restart();
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(received.length, before, 'nothing sent again after the restart');
});

test('a certificate expired longer than alerts are kept is not alerted again and again', async () => {
  const zoneId = (await a.api('POST', '/zones', { name: 'old-alerts.test', account: { id: a.accountId } })).body.result.id;
  const [id] = await withPack(zoneId, 'old.old-alerts.test', new Date(Date.now() + 200 * DAY));
  // Long expired (a row edited as the years would have): outside the 90 days alerts are kept.
  const longAgo = new Date(Date.now() - 100 * DAY).toISOString();
  await a.running.ctx.store.write(null, (trx) => trx.updateTable('pack_certificates').set({ expires_on: longAgo }).where('id', '=', id).execute());
  const before = received.length;
  await new Promise((r) => setTimeout(r, 3500)); // three checks at EDGECERT_ALERT_INTERVAL=1s
  assert.deepEqual(received.slice(before).filter((r) => r.body.certificate.id === id), [], 'no alert for it');
});
