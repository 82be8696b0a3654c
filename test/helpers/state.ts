import type { TestServer } from './server.js';

/**
 * Everything a refused request must leave untouched, read straight from the database:
 * hostnames (all columns) and pack certificates (including the key ciphertext).
 */
export async function snapshot(s: TestServer): Promise<string> {
  const db = s.running.ctx.store.db;
  const hostnames = await db.selectFrom('custom_hostnames').selectAll().orderBy('id').execute();
  const certificates = await db.selectFrom('pack_certificates').selectAll().orderBy('id').execute();
  const origins = await db.selectFrom('fallback_origins').selectAll().orderBy('zone_id').execute();
  return JSON.stringify({ hostnames, certificates, origins });
}

export const codes = (body: any): number[] => (body?.errors ?? []).map((e: any) => e.code);
