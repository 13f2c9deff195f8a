import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { sha256Hex } from '../lib/crypto.js';
import type { Sql } from './sql.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
// Any fixed 64-bit number: every instance and the CLI take the same lock.
const MIGRATION_LOCK_ID = 7_412_205_331;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** Reads `NNNN_slug.sql` files in version order. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(path.join(dir, f), 'utf8');
      return { version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql, checksum: sha256Hex(sql) };
    });
}

export class MigrationError extends Error {}

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory lock so that
 * instances starting at once do not race; refuses to run when an applied file has changed.
 * Returns the names applied by this call.
 */
export async function migrate(sql: Sql, migrations = loadMigrations()): Promise<string[]> {
  return sql.ownerSession(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await conn.query<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations');
      const applied = new Map(rows.map((r) => [r.version, r]));
      const done: string[] = [];
      for (const m of migrations) {
        const prior = applied.get(m.version);
        if (prior) {
          if (prior.checksum !== m.checksum) throw new MigrationError(`migration ${m.name} was changed after it was applied; write a new migration instead`);
          continue;
        }
        await conn.exec('BEGIN');
        try {
          await conn.exec(m.sql);
          await conn.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
          await conn.exec('COMMIT');
        } catch (err) {
          await conn.exec('ROLLBACK').catch(() => {});
          throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        done.push(m.name);
      }
      return done;
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => {});
    }
  });
}
