import type { Socket } from 'node:net';
import { extensionParsers } from 'read-tls-client-hello';

/**
 * The server name a TLS client asks for, read from its ClientHello before any handshake. The
 * bytes read are put back (`unshift`), so a TLSSocket built on the socket afterwards sees the
 * whole ClientHello.
 *
 * read-tls-client-hello's `readTlsClientHello` parses every field through a promise per read,
 * which cost more CPU than OpenSSL's whole handshake (bench -- edge), and reads only the first
 * record. So the records are framed here synchronously (a ClientHello may span several: large
 * key shares), the handshake message reassembled, and only the server_name extension parsed,
 * with the library's own parser for it.
 *
 * Resolves to the name, `undefined` without SNI, or rejects when the stream is not TLS.
 */
export function readServerName(socket: Socket): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    // Every byte read, to be put back; and the handshake message reassembled from the records.
    const raw = new Growable();
    const hello = new Growable();
    let recordAt = 0;
    let records = 0;
    const cleanup = () => {
      socket.off('readable', onReadable);
      socket.off('close', onClose);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('connection closed before a ClientHello arrived'));
    };
    const fail = (why: string) => finish(() => reject(new Error(why)));
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        raw.append(chunk);
        if (raw.length > MAX_HELLO_BYTES + 5 * MAX_HELLO_RECORDS) return fail('ClientHello too large');
      }
      // Each record is framed once, when it is complete: the work is linear in the bytes read.
      const bytes = raw.view();
      while (recordAt + 5 <= bytes.length) {
        if (bytes[recordAt] !== 0x16) return fail('not a TLS handshake');
        const length = bytes.readUInt16BE(recordAt + 3);
        if (length === 0 || length > MAX_RECORD) return fail('malformed ClientHello record');
        const end = recordAt + 5 + length;
        if (end > bytes.length) return; // this record is still arriving
        if (++records > MAX_HELLO_RECORDS) return fail(`ClientHello spread over more than ${MAX_HELLO_RECORDS} records`);
        hello.append(bytes.subarray(recordAt + 5, end));
        recordAt = end;
        if (hello.length < 4) continue;
        const message = hello.view();
        if (message[0] !== 0x01) return fail('malformed ClientHello');
        const declared = 4 + message.readUIntBE(1, 3);
        if (declared > MAX_HELLO_BYTES) return fail('ClientHello too large');
        if (message.length < declared) continue; // wants the next record
        const parsed = serverNameFromHello(message);
        if (parsed === 'malformed') return fail('malformed ClientHello');
        return finish(() => resolve(parsed));
      }
    };
    const finish = (then: () => void) => {
      cleanup();
      socket.unshift(raw.view());
      then();
    };
    socket.on('readable', onReadable);
    socket.once('close', onClose);
  });
}

/** The server_name in a whole ClientHello handshake message. */
function serverNameFromHello(record: Buffer): string | undefined | 'malformed' {
  const helloLength = record.readUIntBE(1, 3);
  let at = 4 + 2 + 32; // type + length, client version, random
  const need = (n: number) => at + n <= 4 + helloLength;
  if (!need(1)) return 'malformed';
  at += 1 + record[at]!; // session id
  if (!need(2)) return 'malformed';
  at += 2 + record.readUInt16BE(at); // cipher suites
  if (!need(1)) return 'malformed';
  at += 1 + record[at]!; // compression methods
  if (at === 4 + helloLength) return undefined; // no extensions at all
  if (!need(2)) return 'malformed';
  const extensionsEnd = at + 2 + record.readUInt16BE(at);
  at += 2;
  if (extensionsEnd > 4 + helloLength) return 'malformed';
  while (at + 4 <= extensionsEnd) {
    const id = record.readUInt16BE(at);
    const length = record.readUInt16BE(at + 2);
    at += 4;
    if (at + length > extensionsEnd) return 'malformed';
    if (id === 0x0000) {
      try {
        const sni = extensionParsers[0x0000](record.subarray(at, at + length));
        return sni === null ? 'malformed' : (sni.serverName ?? undefined);
      } catch {
        return 'malformed';
      }
    }
    at += length;
  }
  return undefined;
}

/**
 * The largest ClientHello handshake message we wait for. Real clients send 0.5–2 KB (about
 * 1.8 KB with a post-quantum key share); 16 KiB leaves room for many PSK identities.
 */
export const MAX_HELLO_BYTES = 16 * 1024;
/**
 * The most TLS records a ClientHello may span. Browsers and TLS libraries send one record (two
 * at most for a very large hello); hellos cut into many tiny records only come from tools probing
 * the server, and each record costs a parse step.
 */
export const MAX_HELLO_RECORDS = 16;
/** A TLS record holds at most 2^14 bytes of plaintext (RFC 8446 §5.1). */
const MAX_RECORD = 16 * 1024;

/**
 * A buffer that grows by doubling: appending n bytes in many pieces copies O(n) bytes in all
 * (concatenating the whole buffer on each piece would copy O(n²)).
 */
class Growable {
  private bytes = Buffer.allocUnsafe(2048);
  length = 0;

  append(chunk: Buffer): void {
    if (this.length + chunk.length > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + chunk.length));
      this.bytes.copy(next, 0, 0, this.length);
      this.bytes = next;
    }
    chunk.copy(this.bytes, this.length);
    this.length += chunk.length;
  }

  view(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}
