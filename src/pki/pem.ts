/**
 * PEM text handling. Uploads arrive as JSON strings and are often mangled on the way: literal
 * `\n` escapes, CRLF line ends, surrounding whitespace. We normalise those and nothing else.
 */
export interface PemBlock {
  type: string;
  /** Canonical PEM text of this block (64-column base64, `\n` line ends). */
  pem: string;
  der: Buffer;
}

export function normalisePemText(text: string): string {
  return text.replace(/\\r\\n|\\n|\\r/g, '\n').replace(/\r\n?/g, '\n').trim();
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every well-formed PEM block in `text`, in order. Headers (Proc-Type, DEK-Info) are kept in `headers`. */
export function splitPemBlocks(text: string): (PemBlock & { headers: string[] })[] {
  const blocks: (PemBlock & { headers: string[] })[] = [];
  for (const m of normalisePemText(text).matchAll(BLOCK)) {
    const type = m[1]!;
    const lines = m[2]!.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const headers = lines.filter((l) => l.includes(':'));
    const body = lines.filter((l) => !l.includes(':')).join('');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) continue;
    const der = Buffer.from(body, 'base64');
    const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
    blocks.push({ type, der, headers, pem: `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n` });
  }
  return blocks;
}

/** Text that is not part of any PEM block (ignoring whitespace): a sign of garbage or truncation. */
export function hasStrayText(text: string): boolean {
  return normalisePemText(text).replace(BLOCK, '').trim().length > 0;
}
