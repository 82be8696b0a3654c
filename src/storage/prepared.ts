import { CompiledQuery, type Compilable, type QueryResult } from 'kysely';
import type { Db } from './schema.js';

/**
 * A Kysely query built and compiled once per dialect, then run with new values: for the few
 * queries every certificate PUT runs. Kysely builds and compiles a query on every call, which on
 * that path cost more than SQLite running it (an 11-column UPDATE in a loop: 48 µs built per
 * call, 15 µs compiled once, 14 µs for better-sqlite3 alone).
 *
 * `build` receives placeholders (`p.name`) where the values go. They must be plain values
 * (`where('id', '=', p.id)`, `set({ a: p.a })`, `values({ … })`): the first compile checks that
 * each placeholder became a parameter of its own, so one used as an identifier, inside a LIKE
 * pattern or in plain JavaScript is refused at once (tests run every prepared query).
 */
export function prepared<P extends object, R>(build: (db: Db, p: P) => Compilable<R>) {
  // Kysely instances of one store (its connections and transactions) share one adapter.
  const byDialect = new WeakMap<object, { sql: string; slots: Array<string | { constant: unknown }> }>();
  /** The driver's whole answer: rows, and for writes the affected rows and (SQLite) the inserted rowid. */
  async function run(db: Db, values: P): Promise<QueryResult<R>> {
    const adapter = db.getExecutor().adapter;
    let compiled = byDialect.get(adapter);
    if (!compiled) {
      compiled = compileWithPlaceholders(db, build);
      byDialect.set(adapter, compiled);
    }
    const parameters = compiled.slots.map((slot) => (typeof slot === 'string' ? (values as Record<string, unknown>)[slot] : slot.constant));
    return db.executeQuery<R>(CompiledQuery.raw(compiled.sql, parameters));
  }
  return {
    run,
    async execute(db: Db, values: P): Promise<R[]> {
      return (await run(db, values)).rows;
    },
  };
}

const MARK = '\u0000edgecert-placeholder:';

function compileWithPlaceholders<P extends object, R>(db: Db, build: (db: Db, p: P) => Compilable<R>) {
  const used = new Set<string>();
  const placeholders = new Proxy({} as P, {
    get: (_target, name) => {
      used.add(String(name));
      return `${MARK}${String(name)}`;
    },
  });
  const { sql, parameters } = build(db, placeholders).compile();
  if (sql.includes(MARK)) throw new Error(`prepared query: a placeholder ended up in the SQL text: ${sql}`);
  const slots = parameters.map((value) => {
    if (typeof value === 'string' && value.includes(MARK)) {
      if (!value.startsWith(MARK)) throw new Error(`prepared query: a placeholder is part of a larger value: ${sql}`);
      return value.slice(MARK.length);
    }
    return { constant: value };
  });
  for (const name of used) {
    if (!slots.includes(name)) throw new Error(`prepared query: placeholder ${name} did not become a parameter: ${sql}`);
  }
  return { sql, slots };
}
