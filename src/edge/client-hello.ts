import type { Socket } from 'node:net';
import { extensionParsers, getExtensionData, readTlsClientHello } from 'read-tls-client-hello';

/**
 * The server name a TLS client asks for, read from its ClientHello before any handshake. The
 * bytes read are put back (`unshift`), so a TLSSocket built on the socket afterwards sees the
 * whole ClientHello.
 *
 * read-tls-client-hello's `readTlsClientHello` parses every field through a promise per read,
 * which cost more CPU than OpenSSL's whole handshake (bench -- edge). So the common case — the
 * ClientHello in one TLS record — is framed here synchronously and only the server_name
 * extension is parsed, with the library's own parser for it; a ClientHello split across
 * records goes to the library's full reader.
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
      if (buffered.length < 5) return;
      if (buffered[0] !== 0x16) return finish(() => reject(new Error('not a TLS handshake')));
      const recordEnd = 5 + buffered.readUInt16BE(3);
      if (buffered.length < recordEnd) return;
      const parsed = serverNameFromRecord(buffered.subarray(5, recordEnd));
      if (parsed === 'fragmented') {
        finish(() => {
          readTlsClientHello(socket).then((hello) => resolve(getExtensionData(hello, 'sni')?.serverName ?? undefined), reject);
        });
        return;
      }
      if (parsed === 'malformed') return finish(() => reject(new Error('malformed ClientHello')));
      finish(() => resolve(parsed));
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

/** The server_name in a handshake record holding a whole ClientHello. */
function serverNameFromRecord(record: Buffer): string | undefined | 'fragmented' | 'malformed' {
  if (record.length < 4 || record[0] !== 0x01) return 'malformed';
  const helloLength = record.readUIntBE(1, 3);
  if (4 + helloLength > record.length) return 'fragmented';
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
