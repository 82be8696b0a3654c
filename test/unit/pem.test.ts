import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasStrayText, MAX_PEM_BLOCKS, splitPemBlocks, TooManyPemBlocks } from '../../src/pki/pem.js';

const block = (type: string, body = 'MIIBAg==') => `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`;

test('blocks in order, escapes and CRLF tolerated, headers kept, bad bodies skipped', () => {
  const text = `  ${block('CERTIFICATE')}\r\n${block('EC PARAMETERS', 'BggqhkjOPQMBBw==')}`.replace(/\n/g, '\\n');
  const blocks = splitPemBlocks(text);
  assert.deepEqual(blocks.map((b) => b.type), ['CERTIFICATE', 'EC PARAMETERS']);
  assert.equal(hasStrayText(text), false);
  const withHeaders = splitPemBlocks('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\nMIIBAg==\n-----END RSA PRIVATE KEY-----');
  assert.deepEqual(withHeaders[0]!.headers, ['Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES']);
  assert.deepEqual(splitPemBlocks(block('CERTIFICATE', 'not base64!')), []);
  assert.equal(hasStrayText(block('CERTIFICATE', 'not base64!')), false, 'a block with a bad body is not stray text');
});

test('stray text: before, between and after blocks; an unterminated block; mismatched END', () => {
  assert.equal(hasStrayText(`junk\n${block('CERTIFICATE')}`), true);
  assert.equal(hasStrayText(`${block('CERTIFICATE')}junk\n${block('CERTIFICATE')}`), true);
  assert.equal(hasStrayText(`${block('CERTIFICATE')}trailing`), true);
  assert.equal(hasStrayText('-----BEGIN CERTIFICATE-----\nMIIBAg==\n'), true);
  assert.deepEqual(splitPemBlocks('-----BEGIN CERTIFICATE-----\nMIIBAg==\n-----END PRIVATE KEY-----'), []);
  // An unterminated block before a good one: the good one is still found, like the old regex did.
  const mixed = `-----BEGIN PRIVATE KEY-----\n${block('CERTIFICATE')}`;
  assert.deepEqual(splitPemBlocks(mixed).map((b) => b.type), ['CERTIFICATE']);
});

test('hostile: tens of thousands of BEGIN markers are refused after the cap, without scanning to the end for each', () => {
  const markers = '-----BEGIN X-----\n'.repeat(55_000);
  assert.throws(() => splitPemBlocks(markers), (err) => err instanceof TooManyPemBlocks && err.message.includes(`more than ${MAX_PEM_BLOCKS}`));
  assert.throws(() => hasStrayText(markers), TooManyPemBlocks);
  // Under the cap, each unterminated type is searched for once.
  const few = Array.from({ length: MAX_PEM_BLOCKS }, (_, i) => `-----BEGIN T${i % 3}-----\nAAAA\n`).join('') + 'x'.repeat(1_000_000);
  assert.deepEqual(splitPemBlocks(few), []);
  assert.equal(hasStrayText(few), true);
  // The operator's trust bundle may hold any number of certificates.
  assert.equal(splitPemBlocks(block('CERTIFICATE').repeat(200), Infinity).length, 200);
});
