import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { startTestServer, startSecondApiNode, removeDir, onPostgres, type TestServer } from '../helpers/server.js';
import { makeTestPki, type Leaf, type TestPki } from '../helpers/pki.js';
import { codes, snapshot } from '../helpers/state.js';
import { holdRowLock } from '../helpers/process.js';

/** The seed operations: PUT (replace one certificate) and DELETE (one, never the last). */
let s: TestServer;
let pki: TestPki;
let zoneId: string;
let wildRsa: Leaf;
let wildEc: Leaf;
const uploadedKeys: string[] = [];

before(async () => {
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.client.zones.create({ name: 'packs-saas.com', account: { id: s.accountId } })).id;
  wildRsa = await pki.leaf({ hosts: ['*.packs.test'], keyType: 'rsa' });
  wildEc = await pki.leaf({ hosts: ['*.packs.test'], keyType: 'ecdsa' });
  uploadedKeys.push(wildRsa.keyPem, wildEc.keyPem);
});
after(async () => {
  await s.close();
  removeDir(s.dataDir);
});

async function hostnameWithPack(hostname: string, pairs: Leaf[] = [wildRsa, wildEc]) {
  const res = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, {
    hostname,
    ssl: { custom_cert_bundle: pairs.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const h = res.body.result;
  const id = (t: string) => h.ssl.certificates.find((c: any) => c.key_type === t)?.id as string;
  return { id: h.id as string, packId: h.ssl.id as string, rsaId: id('rsa'), ecdsaId: id('ecdsa'), body: h };
}

const certPath = (h: { id: string; packId: string }, certId: string) =>
  `/zones/${zoneId}/custom_hostnames/${h.id}/certificate_pack/${h.packId}/certificates/${certId}`;

describe('PUT replaces one certificate', () => {
  test('through the SDK: same id, new certificate, whole custom hostname answered', async () => {
    const h = await hostnameWithPack('replace.packs.test');
    const next = await pki.leaf({ hosts: ['replace.packs.test'], keyType: 'rsa' });
    uploadedKeys.push(next.keyPem);
    const res = await s.client.customHostnames.certificatePack.certificates.update(h.rsaId, {
      zone_id: zoneId,
      custom_hostname_id: h.id,
      certificate_pack_id: h.packId,
      custom_certificate: next.chainPem,
      custom_key: next.keyPem,
    });
    assert.equal(res.id, h.id);
    assert.equal(res.hostname, 'replace.packs.test');
    const certs = (res.ssl as any).certificates;
    assert.equal(certs.length, 2);
    const rsa = certs.find((c: any) => c.key_type === 'rsa');
    assert.equal(rsa.id, h.rsaId);
    assert.equal(rsa.serial_number, BigInt('0x' + next.serialHex).toString(10));
    assert.deepEqual(rsa.hosts, ['replace.packs.test']);
    const ec = certs.find((c: any) => c.key_type === 'ecdsa');
    assert.deepEqual(ec, h.body.ssl.certificates.find((c: any) => c.key_type === 'ecdsa'), 'the other certificate is untouched');
    // The stored key is the new one (decrypts to it; AAD = certificate id).
    const row = await s.running.ctx.store.db.selectFrom('pack_certificates').selectAll().where('id', '=', h.rsaId).executeTakeFirstOrThrow();
    assert.equal(s.running.ctx.vault.decrypt(row.key_ciphertext, row.key_id, row.id), next.keyObject.export({ type: 'pkcs8', format: 'pem' }));
  });

  test('RSA only by RSA, ECDSA only by ECDSA: 400/1813 both ways, nothing changed', async () => {
    const h = await hostnameWithPack('slots.packs.test');
    const before = await snapshot(s);
    const toEc = await s.api('PUT', certPath(h, h.ecdsaId), { custom_certificate: wildRsa.chainPem, custom_key: wildRsa.keyPem });
    assert.equal(toEc.status, 400);
    assert.deepEqual(codes(toEc.body), [1813]);
    assert.match(toEc.body.errors[0].message, /ECDSA/);
    const toRsa = await s.api('PUT', certPath(h, h.rsaId), { custom_certificate: wildEc.chainPem, custom_key: wildEc.keyPem });
    assert.deepEqual(codes(toRsa.body), [1813]);
    assert.equal(await snapshot(s), before);
  });

  test('unknown or mismatched ids: 1436 / 1817 / 1818 (404), malformed ids 400/7003', async () => {
    const a = await hostnameWithPack('ids-a.packs.test');
    const b = await hostnameWithPack('ids-b.packs.test');
    const body = { custom_certificate: wildRsa.chainPem, custom_key: wildRsa.keyPem };
    const unknown = '0d4b8c7e-1f2a-4b3c-9d8e-7f6a5b4c3d2e';
    const before = await snapshot(s);
    const cases: Array<[string, number, number]> = [
      [certPath({ id: unknown, packId: a.packId }, a.rsaId), 404, 1436],
      [certPath({ id: a.id, packId: unknown }, a.rsaId), 404, 1817],
      [certPath({ id: a.id, packId: b.packId }, a.rsaId), 404, 1817],
      [certPath(a, unknown), 404, 1818],
      [certPath(a, b.rsaId), 404, 1818],
      [certPath({ id: 'nope', packId: a.packId }, a.rsaId), 400, 7003],
      [certPath(a, '12345'), 400, 7003],
    ];
    for (const [p, status, code] of cases) {
      for (const method of ['PUT', 'DELETE']) {
        const res = await s.api(method, p, method === 'PUT' ? body : undefined);
        assert.equal(res.status, status, `${method} ${p}: ${JSON.stringify(res.body)}`);
        assert.equal(codes(res.body)[0], code);
      }
    }
    const otherZone = await s.client.zones.create({ name: 'other-packs.com', account: { id: s.accountId } });
    const cross = await s.api('DELETE', certPath(a, a.rsaId).replace(zoneId, otherZone.id));
    assert.deepEqual(codes(cross.body), [1436]);
    const noZone = await s.api('PUT', certPath(a, a.rsaId).replace(zoneId, 'f'.repeat(32)), body);
    assert.equal(noZone.status, 404);
    assert.deepEqual(codes(noZone.body), [1001]);
    const { TokensService } = await import('../../src/resources/tokens/service.js');
    const tokens = new TokensService(s.running.ctx);
    const foreign = await tokens.create({ name: 'other zone', permissions: ['ssl:edit'], accountId: s.accountId, zoneIds: [otherZone.id] });
    const reader = await tokens.create({ name: 'reader', permissions: ['ssl:read'], accountId: s.accountId });
    for (const t of [foreign, reader]) {
      for (const method of ['PUT', 'DELETE']) {
        const denied = await s.api(method, certPath(a, a.rsaId), method === 'PUT' ? body : undefined, { authorization: `Bearer ${t.value}` });
        assert.equal(denied.status, 403, `${t === foreign ? 'foreign-zone' : 'read-only'} token, ${method}`);
        assert.deepEqual(codes(denied.body), [10000]);
      }
    }
    assert.equal(await snapshot(s), before);
  });
});

describe('DELETE removes one certificate, never the last', () => {
  test('through the SDK, then the last one is refused with 400/1814', async () => {
    const h = await hostnameWithPack('delete.packs.test');
    const res = await s.client.customHostnames.certificatePack.certificates.delete(h.ecdsaId, {
      zone_id: zoneId,
      custom_hostname_id: h.id,
      certificate_pack_id: h.packId,
    });
    assert.equal(res.id, h.ecdsaId);
    const after = (await s.api('GET', `/zones/${zoneId}/custom_hostnames/${h.id}`)).body.result;
    assert.deepEqual(after.ssl.certificates.map((c: any) => c.id), [h.rsaId]);
    assert.equal(after.ssl.status, 'active');
    assert.equal(after.ssl.signature, after.ssl.certificates[0].signature, 'top level now describes the RSA certificate');
    const before = await snapshot(s);
    const last = await s.api('DELETE', certPath(h, h.rsaId));
    assert.equal(last.status, 400);
    assert.deepEqual(codes(last.body), [1814]);
    assert.equal(await snapshot(s), before);
    // A pack of one can grow again, and then lose either.
    const grown = await s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { ssl: { custom_certificate: wildEc.chainPem, custom_key: wildEc.keyPem } });
    assert.equal(grown.body.result.ssl.certificates.length, 2);
    const rsaGone = await s.api('DELETE', certPath(h, h.rsaId));
    assert.equal(rsaGone.status, 200);
    assert.deepEqual(rsaGone.body, { id: h.rsaId, success: true, errors: [], messages: [], result: { id: h.rsaId } });
  });

  test('two concurrent deletes of a pack’s two certificates: exactly one wins (×50)', async () => {
    for (let i = 0; i < 50; i++) {
      const h = await hostnameWithPack(`race-${i}.packs.test`);
      const results = await Promise.all([s.api('DELETE', certPath(h, h.rsaId)), s.api('DELETE', certPath(h, h.ecdsaId))]);
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 400], `round ${i}: ${JSON.stringify(results.map((r) => r.body))}`);
      assert.deepEqual(codes(results.find((r) => r.status === 400)!.body), [1814]);
      const left = await s.running.ctx.store.db.selectFrom('pack_certificates').select('id').where('custom_hostname_id', '=', h.id).execute();
      assert.equal(left.length, 1, `round ${i}`);
    }
  });

  test('a replace racing a delete of the other certificate: both succeed, the pack keeps one', async () => {
    for (let i = 0; i < 10; i++) {
      const h = await hostnameWithPack(`mix-${i}.packs.test`);
      const [put, del] = await Promise.all([
        s.api('PUT', certPath(h, h.rsaId), { custom_certificate: wildRsa.chainPem, custom_key: wildRsa.keyPem }),
        s.api('DELETE', certPath(h, h.ecdsaId)),
      ]);
      assert.equal(put.status, 200);
      assert.equal(del.status, 200);
      const left = await s.running.ctx.store.db.selectFrom('pack_certificates').select('key_type').where('custom_hostname_id', '=', h.id).execute();
      assert.deepEqual(left, [{ key_type: 'rsa' }]);
    }
  });
});

/** Lists the files under argv[1] and those holding a PEM private key or any of the JSON argv[2] needles. */
const SCAN_FILES = `
const fs = require('node:fs'), path = require('node:path');
const [dir, needles] = [process.argv[1], JSON.parse(process.argv[2])];
const files = [], holding = [];
const walk = (d) => { for (const n of fs.readdirSync(d)) { const p = path.join(d, n); fs.statSync(p).isDirectory() ? walk(p) : files.push(p); } };
walk(dir);
for (const f of files) {
  const text = fs.readFileSync(f).toString('latin1');
  if (/PRIVATE KEY-----/.test(text) || needles.some((n) => text.includes(n))) holding.push(f);
}
console.log(JSON.stringify({ files, holding }));
`;

describe('durability and secrecy', () => {
  test('restart keeps hostnames, packs and keys', async () => {
    const h = await hostnameWithPack('durable.packs.test');
    const before = (await s.api('GET', `/zones/${zoneId}/custom_hostnames/${h.id}`)).body.result;
    const snap = await snapshot(s);
    s = await s.restart();
    assert.equal(await snapshot(s), snap);
    const after = (await s.api('GET', `/zones/${zoneId}/custom_hostnames/${h.id}`)).body.result;
    assert.deepEqual(after, before);
    const row = await s.running.ctx.store.db.selectFrom('pack_certificates').selectAll().where('id', '=', h.ecdsaId).executeTakeFirstOrThrow();
    assert.equal(s.running.ctx.vault.decrypt(row.key_ciphertext, row.key_id, row.id), wildEc.keyObject.export({ type: 'pkcs8', format: 'pem' }));
    const del = await s.api('DELETE', certPath(h, h.rsaId));
    assert.equal(del.status, 200);
  });

  test('no file in the data directory and no log line holds a private key', async () => {
    await s.running.ctx.store.db.selectFrom('pack_certificates').select('id').execute(); // the WAL is in place
    // The base64 body of each uploaded key (first 60 characters), in PKCS#8 and as sent.
    const needles = uploadedKeys.flatMap((pem) => [pem.split('\n')[1]!.slice(0, 60)]);
    // Read from another process: closing a descriptor of the database file (or its -shm) in this
    // process would drop the POSIX locks the server's SQLite connection holds on it (sqlite.org,
    // "How To Corrupt An SQLite Database File" §2.2). The next process to close the database then
    // believes it is the last one and deletes the WAL this process still writes to.
    const scan = JSON.parse(
      execFileSync(process.execPath, ['-e', SCAN_FILES, s.dataDir, JSON.stringify(needles)], { encoding: 'utf8' }),
    ) as { files: string[]; holding: string[] };
    if (!onPostgres()) assert.ok(scan.files.some((f) => f.endsWith('.db')), `database file present: ${scan.files.join(', ')}`);
    assert.ok(scan.files.length > 0);
    assert.deepEqual(scan.holding, [], 'files holding a PEM private key or key material');
    const logs = s.logs.join('');
    assert.ok(logs.length > 0);
    assert.ok(!/PRIVATE KEY/.test(logs));
    for (const needle of needles) assert.ok(!logs.includes(needle));
  });
});

describe('property: malformed input never gets a 5xx or changes anything', () => {
  test('mutated PEM and JSON at create and PUT', async () => {
    const h = await hostnameWithPack('fuzz.packs.test');
    const pem = wildRsa.chainPem;
    const key = wildRsa.keyPem;
    const mutatedPem = fc.oneof(
      fc.string(),
      fc.tuple(fc.nat(pem.length), fc.nat(200)).map(([i, n]) => pem.slice(0, i) + pem.slice(i + n)),
      fc.tuple(fc.nat(pem.length), fc.string({ minLength: 1, maxLength: 8 })).map(([i, junk]) => pem.slice(0, i) + junk + pem.slice(i + 1)),
      fc.constantFrom('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\nAAAA', pem.replace(/CERTIFICATE/g, 'PRIVATE KEY'), key),
    );
    const mutatedKey = fc.oneof(
      fc.string(),
      fc.tuple(fc.nat(key.length), fc.nat(100)).map(([i, n]) => key.slice(0, i) + key.slice(i + n)),
      fc.constant(pem),
    );
    const jsonish = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string(),
      fc.constantFrom('{', '{"ssl":', '{"hostname":1}', '[]', 'null', '{"ssl":{"custom_cert_bundle":{}}}'),
    );
    const body = fc.oneof(
      fc.record({ custom_certificate: mutatedPem, custom_key: mutatedKey }).map((b) => JSON.stringify(b)),
      jsonish,
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (raw, viaPut) => {
        const before = await snapshot(s);
        const res = viaPut
          ? await s.api('PUT', certPath(h, h.rsaId), raw)
          : await s.api('POST', `/zones/${zoneId}/custom_hostnames`, raw.startsWith('{"custom_certificate"') ? `{"hostname":"new.packs.test","ssl":${raw}}` : raw);
        assert.ok(res.status < 500, `${res.status} for ${raw.slice(0, 200)}`);
        assert.equal(typeof res.body, 'object');
        if (res.status >= 400) {
          assert.equal(res.body.success, false);
          assert.ok(res.body.errors[0].message);
          assert.equal(await snapshot(s), before);
        } else {
          // Only an intact certificate and key could have been accepted.
          assert.ok(viaPut || res.status === 201);
          if (!viaPut) await s.api('DELETE', `/zones/${zoneId}/custom_hostnames/${res.body.result.id}`);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('a PATCH racing the deletion of its hostname on another node', () => {
  test('answers 202 or 404/1436, never a 5xx, and leaves nothing behind', async () => {
    // A second API process on the same database deletes while this one PATCHes: the DELETE can
    // commit while the PATCH validates its certificate, between its read and its transaction.
    const other = await startSecondApiNode(s);
    const url = other.url;
    const statuses = new Set<number>();
    try {
      for (let round = 0; round < 40; round++) {
        const h = await hostnameWithPack(`gone-${round}.packs.test`, [wildRsa]);
        const [patch, del] = await Promise.all([
          (async () => {
            await new Promise((r) => setTimeout(r, round % 4));
            return s.api('PATCH', `/zones/${zoneId}/custom_hostnames/${h.id}`, { ssl: { custom_certificate: wildEc.chainPem, custom_key: wildEc.keyPem } });
          })(),
          (async () => {
            const res = await fetch(`${url}/client/v4/zones/${zoneId}/custom_hostnames/${h.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${s.token}` } });
            return res.status;
          })(),
        ]);
        assert.equal(del, 200);
        assert.ok(patch.status === 202 || (patch.status === 404 && codes(patch.body)[0] === 1436), `round ${round}: ${patch.status} ${JSON.stringify(patch.body)}`);
        statuses.add(patch.status);
        const left = await s.running.ctx.store.db.selectFrom('pack_certificates').select('id').where('custom_hostname_id', '=', h.id).execute();
        assert.equal(left.length, 0, 'nothing left behind for the deleted hostname');
      }
      assert.ok(statuses.has(404), `the deletion won some races: ${[...statuses]}`);
    } finally {
      await other.stop();
    }
  });
});

describe('a PUT whose hostname is deleted by another node after the PUT read it', () => {
  test('answers 404/1436 (not "certificate not found") and writes nothing', async () => {
    // Another process locks the hostname and deletes it; the PUT has already read the hostname
    // and validated its certificate, and waits for the lock. Inside its transaction it must find
    // the hostname gone (on SQLite, from the empty pack; on PostgreSQL, from the row lock).
    const h = await hostnameWithPack('deleted-meanwhile.packs.test');
    const changes = async () => Number((await s.running.ctx.store.db.selectFrom('changes').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const lock = await holdRowLock(s.databaseUrl, 'custom_hostnames', h.id, 600, { thenDelete: true });
    const before = await changes();
    const res = await s.api('PUT', certPath(h, h.ecdsaId), { custom_certificate: wildEc.chainPem, custom_key: wildEc.keyPem });
    await lock.released;
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.deepEqual(codes(res.body), [1436]);
    assert.equal(await changes(), before, 'the PUT recorded no change');
    const left = await s.running.ctx.store.db.selectFrom('pack_certificates').select('id').where('custom_hostname_id', '=', h.id).execute();
    assert.equal(left.length, 0, 'no certificate written for the deleted hostname');
  });
});
