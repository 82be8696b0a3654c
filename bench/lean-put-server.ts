/**
 * A yardstick for `npm run bench -- api`, not part of edgecert: the least a Node process can do
 * for a PUT-replace and still do it properly. node:http without a framework, the same certificate
 * rules (`validateCustomCertificate`), the same AES-GCM sealing, and one SQLite transaction through
 * prepared better-sqlite3 statements (no query builder), on a table of the same shape and size.
 * What edgecert costs above this is what Fastify, Kysely and edgecert's own layers cost.
 *
 * Input (env): LEAN_DB (file), LEAN_TRUST (PEM file), LEAN_SEED (JSON: hostnames, and an rsa and an ecdsa {chainPem, keyPem}),
 * LEAN_TOKEN (the bearer token, compared in constant time as edgecert does).
 * Prints `lean listening <port>`; PUT /<hostname index> with {custom_certificate, custom_key}.
 */
import { createServer } from 'node:http';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { validateCustomCertificate } from '../src/pki/validate.js';
import { TrustStore } from '../src/pki/trust.js';
import { KeyVault } from '../src/storage/crypto.js';

type Pair = { chainPem: string; keyPem: string };
const seed = JSON.parse(readFileSync(process.env.LEAN_SEED!, 'utf8')) as { hostnames: number; rsa: Pair; ecdsa: Pair };
const trust = TrustStore.load(process.env.LEAN_TRUST);
const vault = new KeyVault(randomBytes(32));
const db = new Database(process.env.LEAN_DB!);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = -65536');
db.exec(`
  create table hostnames (id text primary key, hostname text not null unique, zone_id text not null, created_at text not null);
  create table certs (id text primary key, hostname_id text not null references hostnames(id), key_type text not null,
    certificate text not null, key_ciphertext text not null, key_id text not null, issuer text, serial_number text,
    signature text, expires_on text, issued_on text, uploaded_on text, fingerprint_sha256 text, hosts text,
    unique (hostname_id, key_type));
  create table changes (seq integer primary key autoincrement, kind text, zone_id text, entity_id text, created_at text);
`);

const insertHostname = db.prepare('insert into hostnames values (?, ?, ?, ?)');
const insertCert = db.prepare(`insert into certs values (?, ?, ?, ?, ?, ?, '', '', '', '', '', '', '', '[]')`);
const ids: string[] = [];
db.transaction(() => {
  for (let i = 0; i < seed.hostnames; i++) {
    const id = randomUUID();
    ids.push(id);
    insertHostname.run(id, `t${i}.bench.test`, 'zone', new Date().toISOString());
    for (const keyType of ['rsa', 'ecdsa'] as const) {
      const certId = randomUUID();
      insertCert.run(certId, id, keyType, seed[keyType].chainPem, vault.encrypt(seed[keyType].keyPem, certId).ciphertext, vault.keyId);
    }
  }
})();

const getHostname = db.prepare('select * from hostnames where id = ?');
const packOf = db.prepare('select id, key_type, issuer, serial_number, signature, expires_on, issued_on, uploaded_on, fingerprint_sha256, hosts from certs where hostname_id = ?');
const update = db.prepare(`update certs set certificate = ?, key_ciphertext = ?, key_id = ?, issuer = ?, serial_number = ?, signature = ?,
  expires_on = ?, issued_on = ?, uploaded_on = ?, fingerprint_sha256 = ?, hosts = ? where id = ?`);
const record = db.prepare(`insert into changes (kind, zone_id, entity_id, created_at) values ('certificate_pack', ?, ?, ?)`);
const begin = db.prepare('begin immediate');
const commit = db.prepare('commit');
const rollback = db.prepare('rollback');

const expected = Buffer.from(`Bearer ${process.env.LEAN_TOKEN}`);
const authorized = (header: string | undefined) => {
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
};

const server = createServer((req, res) => {
  if (!authorized(req.headers.authorization)) {
    res.writeHead(403).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { custom_certificate: string; custom_key: string };
      const host = getHostname.get(ids[Number(req.url!.slice(1)) % ids.length]) as { id: string; hostname: string; zone_id: string };
      const v = validateCustomCertificate({ certificate: body.custom_certificate, key: body.custom_key, hostname: host.hostname }, trust, new Date());
      begin.run();
      let pack: Array<Record<string, unknown>>;
      try {
        pack = packOf.all(host.id) as Array<Record<string, unknown>>;
        const slot = pack.find((c) => c.key_type === v.keyType)!;
        const sealed = vault.encrypt(v.keyPem, slot.id as string);
        const now = new Date().toISOString();
        update.run(v.chainPem, sealed.ciphertext, sealed.keyId, v.issuer, v.serialNumber, v.signature, v.expiresOn, v.issuedOn, now, v.fingerprintSha256, JSON.stringify(v.hosts), slot.id);
        record.run(host.zone_id, host.id, now);
        commit.run();
      } catch (err) {
        rollback.run();
        throw err;
      }
      const payload = JSON.stringify({ success: true, errors: [], messages: [], result: { ...host, ssl: { certificates: pack } } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: false, errors: [{ code: 1000, message: (err as Error).message }] }));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(`lean listening ${(server.address() as { port: number }).port}`));
// A normal exit on SIGTERM, so that --cpu-prof (BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
