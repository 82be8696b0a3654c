import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The layering of design §3, read from the import statements of src/: pki/ knows nothing of
 * HTTP (api/), the edge uses no resource's request types, only storage/ and repositories hold
 * SQL, and no two folders import each other (an import cycle between resources is how a change
 * in one silently breaks the other).
 */
const SRC = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const sources = files(SRC).map((file) => ({ file: path.relative(SRC, file), text: readFileSync(file, 'utf8') }));
const importsOf = (s: { file: string; text: string }) =>
  [...s.text.matchAll(/^import\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) => path.normalize(path.join(path.dirname(s.file), m[1]!.replace(/\.js$/, '.ts'))));
/** resources/<name> for a resource, else the top folder (pki, edge, storage, …). */
const folderOf = (file: string) => {
  const parts = file.split(path.sep);
  return parts[0] === 'resources' ? parts.slice(0, 2).join('/') : parts.length > 1 ? parts[0]! : file;
};

test('pki/ does not import api/ (its refusals are data the resources map to their codes)', () => {
  const offenders = sources.filter((s) => s.file.startsWith('pki')).flatMap((s) => importsOf(s).filter((i) => i.startsWith('api')).map((i) => `${s.file} → ${i}`));
  assert.deepEqual(offenders, []);
});

test('the edge imports no resource request (input) types', () => {
  const offenders = sources.filter((s) => s.file.startsWith('edge')).flatMap((s) => importsOf(s).filter((i) => /resources\/[^/]+\/input\.ts$/.test(i)).map((i) => `${s.file} → ${i}`));
  assert.deepEqual(offenders, []);
});

test('no two folders of src/ import each other', () => {
  const edges = new Map<string, Set<string>>();
  for (const s of sources) {
    for (const target of importsOf(s)) {
      const [a, b] = [folderOf(s.file), folderOf(target)];
      if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
    }
  }
  const cycles = [...edges].flatMap(([a, targets]) => [...targets].filter((b) => a < b && edges.get(b)?.has(a)).map((b) => `${a} ↔ ${b}`));
  assert.deepEqual(cycles, []);
});

test('SQL lives in storage/ and repositories only', () => {
  const offenders = sources
    .filter((s) => !s.file.startsWith('storage') && !/repository\.ts$/.test(s.file))
    .filter((s) => /\.(selectFrom|insertInto|updateTable|deleteFrom)\(|\bsql`/.test(s.text))
    .map((s) => s.file);
  assert.deepEqual(offenders, []);
});
