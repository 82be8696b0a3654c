import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ApiError } from '../../src/api/errors.js';
import { createLogger } from '../../src/lib/logger.js';
import { TrustStore } from '../../src/pki/trust.js';
import { ValidationPool } from '../../src/resources/custom-hostnames/validation-pool.js';
import { validatePairs } from '../../src/resources/custom-hostnames/pack.js';
import type { CertificatePair } from '../../src/resources/custom-hostnames/input.js';
import { makeTestPki, type Leaf, type TestPki } from '../helpers/pki.js';
import { removeDir, startTestServer } from '../helpers/server.js';
import { codes } from '../helpers/state.js';

/**
 * Certificate validation on the API's threads (resources/custom-hostnames/validation-pool.ts) answers exactly what the
 * same rules answer on the event loop: the same facts, the same refusals with their codes and
 * messages, judged at the instant it is given; a thread that dies fails its own jobs (500)
 * and the next job gets a new thread.
 */
const HOST = 'pool.customer.test';
let pki: TestPki;
let trustFile: string;
let dir: string;
let rsa: Leaf;
let ecdsa: Leaf;
let pool: ValidationPool;
const logLines: string[] = [];

before(async () => {
  pki = await makeTestPki();
  dir = mkdtempSync(path.join(tmpdir(), 'edgecert-pool-'));
  trustFile = path.join(dir, 'trust.pem');
  writeFileSync(trustFile, pki.trustPem);
  rsa = await pki.leaf({ hosts: [HOST], keyType: 'rsa' });
  ecdsa = await pki.leaf({ hosts: [HOST], keyType: 'ecdsa' });
  const sink = new Writable({ write: (chunk, _enc, cb) => (logLines.push(String(chunk)), cb()) });
  pool = new ValidationPool(2, trustFile, createLogger('info', sink));
});
after(async () => {
  await pool.close();
  removeDir(dir);
});

const pair = (leaf: Leaf, key = leaf.keyPem): CertificatePair => ({ custom_certificate: leaf.chainPem, custom_key: key });

/** What validation answers, as data: the uploads, or the refusal's status and errors. */
async function outcome(run: () => Promise<unknown> | unknown) {
  try {
    return { ok: await run() };
  } catch (err) {
    assert.ok(err instanceof ApiError, `an ApiError, not ${String(err)}`);
    return { status: err.status, errors: err.errors };
  }
}

test('threads answer what the event loop answers: facts and every refusal, at the instant given', async () => {
  const other = await makeTestPki();
  const stranger = await other.leaf({ hosts: [HOST], keyType: 'ecdsa' });
  const expired = await pki.leaf({ hosts: [HOST], keyType: 'ecdsa', notAfter: new Date(Date.now() - 86_400_000) });
  const now = new Date();
  const inTwoYears = new Date(Date.now() + 2 * 365 * 86_400_000);
  const cases: Array<[string, CertificatePair[], string, Date]> = [
    ['an RSA + ECDSA pack', [pair(rsa), pair(ecdsa)], HOST, now],
    ['a certificate for another hostname', [pair(ecdsa)], 'other.customer.test', now],
    ['a key that is not the certificate\'s', [pair(rsa, ecdsa.keyPem)], HOST, now],
    ['two of one key type', [pair(ecdsa), pair(ecdsa)], HOST, now],
    ['an untrusted issuer', [pair(stranger)], HOST, now],
    ['an expired certificate', [pair(expired)], HOST, now],
    ['valid now, expired at the instant given', [pair(ecdsa)], HOST, inTwoYears],
    ['not PEM at all', [{ custom_certificate: 'hello', custom_key: 'world' }], HOST, now],
    ['no key', [{ custom_certificate: ecdsa.chainPem }], HOST, now],
  ];
  const trust = TrustStore.load(trustFile);
  for (const [name, pairs, hostname, instant] of cases) {
    const inline = await outcome(() => validatePairs({ trust, clock: { now: () => instant } }, pairs, hostname));
    const threaded = await outcome(() => pool.validatePairs(pairs, hostname, instant));
    assert.deepEqual(threaded, inline, name);
    if (name === 'an RSA + ECDSA pack') assert.ok('ok' in inline, 'the pack passes');
    else assert.equal((inline as { status?: number }).status, 400, `${name}: refused`);
  }
});

type Threads = Array<{ worker: { terminate(): Promise<number> } }>;
const threadsOf = (p: ValidationPool) => (p as unknown as { threads: Threads }).threads;

test('a job whose thread stops is handed to a new thread; one that loses two threads fails alone with a 500', async () => {
  // The threads are stopping (as a crash would stop them) when the job is handed to one of them.
  const stopping = threadsOf(pool).map((t) => t.worker.terminate());
  assert.ok(stopping.length > 0);
  const job = pool.validatePairs([pair(rsa), pair(ecdsa)], HOST, new Date());
  await Promise.all(stopping);
  const retried = await outcome(() => job);
  assert.ok('ok' in retried, JSON.stringify(retried));
  assert.ok(logLines.some((l) => l.includes('a certificate validation thread stopped')));

  // A pool of one thread, stopped under the job twice: the job fails, the pool goes on.
  const one = new ValidationPool(1, trustFile, createLogger('silent'));
  try {
    const warm = await outcome(() => one.validatePairs([pair(ecdsa)], HOST, new Date()));
    assert.ok('ok' in warm);
    const first = threadsOf(one).map((t) => t.worker.terminate());
    const doomed = one.validatePairs([pair(ecdsa)], HOST, new Date());
    await Promise.all(first);
    // The job's second thread starts when the first is reported lost; stop it too.
    while (threadsOf(one).length === 0) await new Promise((r) => setImmediate(r));
    await Promise.all(threadsOf(one).map((t) => t.worker.terminate()));
    assert.equal(((await outcome(() => doomed)) as { status?: number }).status, 500);
    assert.ok('ok' in (await outcome(() => one.validatePairs([pair(ecdsa)], HOST, new Date()))), 'the next job gets a new thread');
  } finally {
    await one.close();
  }
});

test('through the API: the same answers with EDGECERT_VALIDATION_THREADS=0 and =2', async () => {
  const answers = [];
  for (const threads of ['0', '2']) {
    const s = await startTestServer({ trustPem: pki.trustPem, env: { EDGECERT_VALIDATION_THREADS: threads } });
    try {
      assert.equal(s.running.ctx.validation === undefined, threads === '0');
      const zoneId = (await s.client.zones.create({ name: 'pool-saas.com', account: { id: s.accountId } })).id;
      const created = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: HOST, ssl: { custom_cert_bundle: [pair(rsa), pair(ecdsa)] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const refused = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname: 'b.customer.test', ssl: { custom_cert_bundle: [pair(rsa), pair(ecdsa)] } });
      const put = await s.api('PUT', `/zones/${zoneId}/custom_hostnames/${created.body.result.id}/certificate_pack/${created.body.result.ssl.id}/certificates/${created.body.result.ssl.certificates[0].id}`, pair(rsa));
      answers.push({
        pack: created.body.result.ssl.certificates.map((c: { key_type: string; fingerprint_sha256: string }) => [c.key_type, c.fingerprint_sha256]),
        refused: [refused.status, codes(refused.body), refused.body.errors[0].message],
        put: [put.status, codes(put.body)],
      });
    } finally {
      await s.close();
      removeDir(s.dataDir);
    }
  }
  assert.deepEqual(answers[1], answers[0]);
  assert.equal(answers[0]!.refused[0], 400);
  assert.deepEqual(answers[0]!.put, [400, [1813]], 'an RSA certificate offered for the ECDSA slot');
});

test('threads start as jobs need them: one for jobs one at a time, up to the size for jobs at once', async () => {
  const p = new ValidationPool(3, trustFile, createLogger('silent'));
  try {
    for (let i = 0; i < 3; i++) assert.ok('ok' in (await outcome(() => p.validatePairs([pair(ecdsa)], HOST, new Date()))));
    assert.equal(threadsOf(p).length, 1, 'one job at a time: one thread');
    const together = await Promise.all(Array.from({ length: 6 }, () => outcome(() => p.validatePairs([pair(ecdsa)], HOST, new Date()))));
    assert.ok(together.every((o) => 'ok' in o));
    assert.equal(threadsOf(p).length, 3, 'six at once: as many threads as allowed, no more');
  } finally {
    await p.close();
  }
});
