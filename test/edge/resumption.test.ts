import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeRoot, makeTestPki, type TestPki } from '../helpers/pki.js';
import { runEdgecert } from '../helpers/process.js';
import { splitAddress } from '../helpers/tls.js';
import path from 'node:path';
import { TicketKeyRing } from '../../src/edge/ticket-keys.js';
import { openStore } from '../../src/storage/connect.js';

/**
 * TLS session resumption with ticket keys kept in the database: a ticket resumes on another
 * edge node of the same database, never on another hostname, never after the hostname's mTLS
 * rule changed; old keys still decrypt after a rotation, expired ones do not.
 */
let s: TestServer;
let pki: TestPki;
let zoneId: string;
let ca: string;

/** A handshake offering `session`; whether the server resumed it, and the session to offer next. */
function connect(address: string, servername: string, session?: Buffer): Promise<{ ok: boolean; reused: boolean; session?: Buffer; asked?: boolean }> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, servername, ca, session, minVersion: 'TLSv1.3' });
    let result: { ok: boolean; reused: boolean; session?: Buffer } = { ok: false, reused: false };
    socket.on('session', (sess) => (result.session = sess));
    socket.resume();
    socket.once('secureConnect', () => {
      result = { ...result, ok: true, reused: socket.isSessionReused() };
      // TLS 1.3 tickets arrive after the handshake: wait for one before closing.
      setTimeout(() => socket.end(), 50);
    });
    socket.once('close', () => resolve(result));
    socket.once('error', () => resolve(result));
  });
}

async function createHostname(hostname: string) {
  const leaf = await pki.leaf({ hosts: [hostname], keyType: 'ecdsa' });
  const res = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname, ssl: { custom_certificate: leaf.chainPem, custom_key: leaf.keyPem } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

before(async () => {
  pki = await makeTestPki();
  ca = pki.trustPem;
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'resume-saas.com', account: { id: s.accountId } })).id;
  await createHostname('one.resume.test');
  await createHostname('two.resume.test');
  await s.running.edge!.sync.settle();
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

test('a ticket resumes on the same edge and on a second edge node on the same database; resumption off: never', async () => {
  const edge = s.running.edgeAddress!;
  const first = await connect(edge, 'one.resume.test');
  assert.ok(first.ok && first.session, 'a ticket was issued');
  assert.equal(first.reused, false);
  assert.equal((await connect(edge, 'one.resume.test', first.session)).reused, true, 'resumed on the node that issued it');

  const node = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: s.dataDir, EDGECERT_DATABASE_URL: s.databaseUrl, EDGECERT_LOG_LEVEL: 'warn', EDGECERT_EDGE_WORKERS: '1' });
  const off = runEdgecert(['serve', '--role', 'edge', '--edge-listen', '127.0.0.1:0'], { EDGECERT_DATA_DIR: s.dataDir, EDGECERT_DATABASE_URL: s.databaseUrl, EDGECERT_LOG_LEVEL: 'warn', EDGECERT_EDGE_WORKERS: '1', EDGECERT_TLS_RESUMPTION: 'off' });
  try {
    const other = (await node.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
    const resumed = await connect(other, 'one.resume.test', first.session);
    assert.ok(resumed.ok);
    assert.equal(resumed.reused, true, 'resumed on another node: the keys are shared through the database');
    const disabled = (await off.waitFor(/edge listening on (\S+) \(TLS\)/))[1]!;
    const fresh = await connect(disabled, 'one.resume.test');
    assert.ok(fresh.ok);
    assert.equal((await connect(disabled, 'one.resume.test', fresh.session ?? first.session)).reused, false, 'EDGECERT_TLS_RESUMPTION=off never resumes');
  } finally {
    for (const p of [node, off]) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }
});

test('a ticket does not resume on another hostname, nor after the hostname’s association changed', async () => {
  const edge = s.running.edgeAddress!;
  const first = await connect(edge, 'one.resume.test');
  const elsewhere = await connect(edge, 'two.resume.test', first.session);
  assert.ok(elsewhere.ok);
  assert.equal(elsewhere.reused, false, 'another hostname: a full handshake');

  const clientCa = await makeRoot('Resumption Client CA');
  const caId = (await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { ca: true, certificates: clientCa.pem })).body.result.id;
  const before = await connect(edge, 'one.resume.test');
  assert.equal((await connect(edge, 'one.resume.test', before.session)).reused, true);
  const put = await s.api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { mtls_certificate_id: caId, hostnames: ['one.resume.test'] });
  assert.equal(put.status, 200);
  await s.running.edge!.sync.settle();
  const after = await connect(edge, 'one.resume.test', before.session);
  assert.ok(after.ok);
  assert.equal(after.reused, false, 'a session from before the association does not skip the client-certificate request');
});

test('rotation: the previous keys still decrypt (and renew), keys older than two periods do not', async () => {
  let now = Date.UTC(2030, 0, 1);
  const clock = { now: () => new Date(now) };
  // A database of its own: this ring's clock is years ahead, and it prunes what it thinks expired.
  const store = await openStore(`sqlite:${path.join(s.dataDir, 'rotation.db')}`);
  await store.migrate();
  const ring = new TicketKeyRing({ ...s.running.ctx, store, clock }, 60_000);
  await ring.refresh();
  const slot = ring.slotAt(clock.now());
  assert.deepEqual(ring.slots, [slot, slot + 1], 'the current key and the next one');
  const leaf = await pki.leaf({ hosts: ['ring.resume.test'], keyType: 'ecdsa' });
  const context = tls.createSecureContext({ key: leaf.keyPem, cert: leaf.chainPem });
  ring.attach(context, 'ring');
  const server = net.createServer((raw) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    socket.on('error', () => undefined);
    socket.once('secure', () => socket.end('bye'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  try {
    const first = await connect(address, 'ring.resume.test');
    assert.ok(first.session);
    now += 60_000; // one period on: the ticket's key is now the previous one
    await ring.refresh();
    const renewed = await connect(address, 'ring.resume.test', first.session);
    assert.equal(renewed.reused, true, 'a previous key decrypts');
    assert.ok(renewed.session, 'and the client gets a ticket under the current key');
    now += 3 * 60_000; // the first key is gone now
    await ring.refresh();
    assert.ok(!ring.slots.includes(slot), 'expired keys are deleted');
    assert.equal((await connect(address, 'ring.resume.test', first.session)).reused, false, 'an expired key does not decrypt');
    // A ticket under keys the edge never had: a full handshake, and the edge lives on.
    const foreign = await connect(s.running.edgeAddress!, 'one.resume.test', renewed.session);
    assert.ok(foreign.ok);
    assert.equal(foreign.reused, false);
    assert.ok((await connect(s.running.edgeAddress!, 'one.resume.test')).ok);
  } finally {
    server.close();
    await store.close();
  }
});
