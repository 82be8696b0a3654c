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
    let buffered: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('readable', onReadable);
      socket.off('close', onClose);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('connection closed before a ClientHello arrived'));
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      // Reassemble the handshake message from as many complete records as have arrived.
      const message: Buffer[] = [];
      let at = 0;
      let length = 0;
      while (at + 5 <= buffered.length) {
        if (buffered[at] !== 0x16) return finish(() => reject(new Error('not a TLS handshake')));
        const end = at + 5 + buffered.readUInt16BE(at + 3);
        if (end > buffered.length) return; // this record is still arriving
        message.push(buffered.subarray(at + 5, end));
        length += end - at - 5;
        at = end;
        if (length >= 4) {
          const hello = message.length === 1 ? message[0]! : Buffer.concat(message);
          if (hello[0] !== 0x01) return finish(() => reject(new Error('malformed ClientHello')));
          if (4 + hello.readUIntBE(1, 3) > MAX_HELLO) return finish(() => reject(new Error('ClientHello too large')));
          if (length < 4 + hello.readUIntBE(1, 3)) continue; // wants the next record
          const parsed = serverNameFromHello(hello);
          if (parsed === 'malformed') return finish(() => reject(new Error('malformed ClientHello')));
          return finish(() => resolve(parsed));
        }
      }
      if (buffered.length > MAX_HELLO + 5 * 8) finish(() => reject(new Error('ClientHello too large')));
    };
    const finish = (then: () => void) => {
      cleanup();
      socket.unshift(buffered);
      then();
    };
    socket.on('readable', onReadable);
    socket.once('close', onClose);
  });
}

/** The largest ClientHello we wait for (post-quantum key shares make them a few KB). */
const MAX_HELLO = 64 * 1024;

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
