import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readServerName } from '../../src/edge/client-hello.js';

/** A real ClientHello, as Node's TLS client writes it for `servername`. */
async function captureClientHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      socket.once('data', (data) => {
        resolve(data);
        socket.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const client = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}) });
      client.on('error', () => undefined);
    });
  });
}

/** Sends `chunks` (with a pause between them) and returns what readServerName gave, and the bytes left in the socket. */
async function serverSees(chunks: Buffer[]): Promise<{ name?: string; error?: string; rest: Buffer }> {
  return new Promise((resolve) => {
    const server = net.createServer(async (socket) => {
      let name: string | undefined;
      let error: string | undefined;
      try {
        name = await readServerName(socket);
      } catch (err) {
        error = (err as Error).message;
      }
      // What a TLSSocket built next would read: everything, from the first byte.
      const parts: Buffer[] = [];
      let chunk: Buffer | null;
      while ((chunk = socket.read()) !== null) parts.push(chunk);
      socket.destroy();
      server.close();
      resolve({ name, error, rest: Buffer.concat(parts) });
    });
    server.listen(0, '127.0.0.1', async () => {
      const { port } = server.address() as net.AddressInfo;
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      for (const c of chunks) {
        client.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
      client.end();
    });
  });
}

test('reads SNI from a ClientHello arriving in pieces, and puts every byte back', async () => {
  const hello = await captureClientHello('Shop.Customer.com');
  const seen = await serverSees([hello.subarray(0, 3), hello.subarray(3, 60), hello.subarray(60)]);
  assert.equal(seen.name, 'Shop.Customer.com');
  assert.deepEqual(seen.rest, hello);
});

test('no SNI: undefined; not TLS: an error, bytes still put back', async () => {
  const noSni = await captureClientHello();
  const seen = await serverSees([noSni]);
  assert.equal(seen.error, undefined);
  assert.equal(seen.name, undefined);
  const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const plain = await serverSees([http]);
  assert.match(plain.error!, /not a TLS handshake/);
  assert.deepEqual(plain.rest, http);
});

test('a ClientHello split across two TLS records goes to the library’s full reader', async () => {
  const hello = await captureClientHello('split.customer.com');
  // Re-frame: the handshake message in two records of the same type and version.
  const body = hello.subarray(5);
  const cut = 40;
  const record = (payload: Buffer) => Buffer.concat([Buffer.from([0x16, hello[1]!, hello[2]!, payload.length >> 8, payload.length & 0xff]), payload]);
  const split = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))]);
  const seen = await serverSees([split]);
  assert.equal(seen.name, 'split.customer.com');
  assert.deepEqual(seen.rest, split);
});

test('malformed or truncated hellos are refused, never thrown past the promise', async () => {
  const hello = await captureClientHello('x.customer.com');
  const broken = Buffer.from(hello);
  broken.writeUInt16BE(0xffff, 5 + 4 + 2 + 32 + 1 + broken[5 + 4 + 2 + 32]!); // absurd cipher-suites length
  const seen = await serverSees([broken]);
  assert.ok(seen.error, 'refused');
  const truncated = await serverSees([hello.subarray(0, 20)]);
  assert.match(truncated.error!, /closed/);
});

/** `hello`'s handshake message re-framed into records of `size` bytes each. */
function reframe(hello: Buffer, size: number): Buffer {
  const body = hello.subarray(5);
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const payload = body.subarray(at, at + size);
    out.push(Buffer.from([0x16, hello[1]!, hello[2]!, payload.length >> 8, payload.length & 0xff]), payload);
  }
  return Buffer.concat(out);
}

test('hostile framing: a ClientHello in one-byte records is refused after a few records, not reassembled', async () => {
  const hello = await captureClientHello('records.customer.com');
  const tiny = reframe(hello, 1); // hundreds of records, each 6 bytes on the wire
  const seen = await serverSees([tiny]);
  assert.match(seen.error!, /more than 16 records/);
  // What real clients do (one record, or a few) still works.
  const few = reframe(hello, Math.ceil((hello.length - 5) / 4));
  assert.equal((await serverSees([few])).name, 'records.customer.com');
});

test('hostile sizes: a declared or actual ClientHello above 16 KiB, a zero-length or oversized record', async () => {
  const hello = await captureClientHello('big.customer.com');
  const huge = Buffer.from(hello);
  huge.writeUIntBE(17 * 1024, 5 + 1, 3); // handshake length: 17 KiB
  assert.match((await serverSees([huge])).error!, /too large/);
  const empty = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]);
  assert.match((await serverSees([empty])).error!, /malformed/);
  const oversized = Buffer.from([0x16, 0x03, 0x01, 0x48, 0x01]); // 18433 bytes: above 2^14
  assert.match((await serverSees([oversized])).error!, /malformed/);
});
