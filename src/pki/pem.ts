/**
 * PEM text handling. Uploads arrive as JSON strings and are often mangled on the way: literal
 * `\n` escapes, CRLF line ends, surrounding whitespace. We normalise those and nothing else.
 *
 * The text is untrusted and up to a 1 MiB body: it is scanned once, front to back, with
 * `indexOf` (no backtracking regular expression), and at most `maxBlocks` BEGIN markers are
 * looked at before the upload is refused.
 */
export interface PemBlock {
  type: string;
  /** Canonical PEM text of this block (64-column base64, `\n` line ends). */
  pem: string;
  der: Buffer;
}

/** More PEM blocks than any certificate chain, key or CA upload holds (a chain is at most 10). */
export const MAX_PEM_BLOCKS = 32;

/** The text has more BEGIN markers than the field may hold; callers answer with their own code. */
export class TooManyPemBlocks extends Error {
  constructor(readonly limit: number) {
    super(`it holds more than ${limit} PEM blocks`);
  }
}

export function normalisePemText(text: string): string {
  return text.replace(/\\r\\n|\\n|\\r/g, '\n').replace(/\r\n?/g, '\n').trim();
}

const BEGIN = '-----BEGIN ';
const DASHES = '-----';
const TYPE = /^[A-Z0-9 ]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

interface Scan {
  blocks: (PemBlock & { headers: string[] })[];
  /** Text outside every BEGIN…END pair (ignoring whitespace): a sign of garbage or truncation. */
  stray: boolean;
}

function scan(text: string, maxBlocks: number): Scan {
  const t = normalisePemText(text);
  const blocks: Scan['blocks'] = [];
  let stray = false;
  let begins = 0;
  // Types whose END marker does not occur after some point: it cannot occur after any later one.
  const endless = new Set<string>();
  let pos = 0;
  for (;;) {
    const begin = t.indexOf(BEGIN, pos);
    if (t.slice(pos, begin < 0 ? t.length : begin).trim() !== '') stray = true;
    if (begin < 0) break;
    if (++begins > maxBlocks) throw new TooManyPemBlocks(maxBlocks);
    // The type ends at the next "-----": at the latest where the next BEGIN marker starts.
    const typeStart = begin + BEGIN.length;
    const typeEnd = t.indexOf(DASHES, typeStart);
    const type = typeEnd < 0 ? '' : t.slice(typeStart, typeEnd);
    if (!TYPE.test(type)) {
      stray = true;
      if (typeEnd < 0) break;
      pos = typeEnd;
      continue;
    }
    const bodyStart = typeEnd + DASHES.length;
    const endMarker = `-----END ${type}-----`;
    const end = endless.has(type) ? -1 : t.indexOf(endMarker, bodyStart);
    if (end < 0) {
      endless.add(type);
      stray = true;
      pos = bodyStart;
      continue;
    }
    pos = end + endMarker.length;
    const lines = t.slice(bodyStart, end).split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const headers = lines.filter((l) => l.includes(':'));
    const body = lines.filter((l) => !l.includes(':')).join('');
    // A block whose body is not base64 is skipped (the callers then find no block of its kind).
    if (body.length === 0 || !BASE64.test(body)) continue;
    const der = Buffer.from(body, 'base64');
    const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
    blocks.push({ type, der, headers, pem: `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n` });
  }
  return { blocks, stray };
}

/**
 * Every well-formed PEM block in `text`, in order. Headers (Proc-Type, DEK-Info) are kept in
 * `headers`. Throws TooManyPemBlocks past `maxBlocks` BEGIN markers.
 */
export function splitPemBlocks(text: string, maxBlocks = MAX_PEM_BLOCKS): (PemBlock & { headers: string[] })[] {
  return scan(text, maxBlocks).blocks;
}

/** Text that is not part of any PEM block (ignoring whitespace): a sign of garbage or truncation. */
export function hasStrayText(text: string, maxBlocks = MAX_PEM_BLOCKS): boolean {
  return scan(text, maxBlocks).stray;
}
