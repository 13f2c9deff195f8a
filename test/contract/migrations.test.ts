import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, MigrationError, type Migration } from '../../src/db/migrate.js';
import type { Sql } from '../../src/db/sql.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';

/**
 * The migration runner on the current backend (TEST_BACKEND): one source of SQL for pg and PGlite,
 * a checksum table, and an advisory lock so that instances starting together do not race.
 */
let stores: Stores;
let other: Sql;
let firstRun: string[][];
const migrations = loadMigrations();

beforeAll(async () => {
  stores = await createStores({ migrate: false });
  // Two migrators on a fresh database: two pools on the same URL with Postgres; on PGlite (one
  // connection per process) two concurrent calls on the one handle.
  other = BACKEND === 'services' ? (await stores.another()).sql : stores.sql;
  firstRun = await Promise.all([migrate(stores.sql), migrate(other)]);
});
afterAll(async () => { await stores?.drop(); });

describe(`migrations (${BACKEND})`, () => {
  it('finds the migration files in version order', () => {
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations[0]!.name).toBe('0001_platform');
    const versions = migrations.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('two concurrent migrators on a fresh database apply each migration exactly once', async () => {
    const applied = firstRun.flat();
    expect(applied.sort()).toEqual(migrations.map((m) => m.name).sort());
    // One of them did all the work under the lock; the other found nothing left to do.
    expect(firstRun.filter((r) => r.length > 0)).toHaveLength(1);
  });

  it('records every version with its name and checksum in schema_migrations', async () => {
    const { rows } = await stores.sql.ownerQuery<{ version: number; name: string; checksum: string; applied_at: Date }>(
      'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => ({ version: Number(r.version), name: r.name, checksum: r.checksum })))
      .toEqual(migrations.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
    for (const r of rows) expect(new Date(r.applied_at).getTime()).not.toBeNaN();
  });

  it('is idempotent: a second run applies nothing and changes nothing', async () => {
    const before = await stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
    expect(await migrate(stores.sql)).toEqual([]);
    expect(await migrate(other)).toEqual([]);
    const after = await stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    const { rows } = await stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    expect(rows[0]!.n).toBe(migrations.length);
  });

  it('rowCount means what it means in pg on both backends: rows a SELECT returned, rows a write changed', async () => {
    const select = await stores.sql.ownerQuery("SELECT slug FROM tenants WHERE slug = 'default' UNION ALL SELECT 'x'");
    expect(select.rowCount).toBe(2);
    const none = await stores.sql.ownerQuery("SELECT slug FROM tenants WHERE slug = 'no-such-tenant'");
    expect(none.rowCount).toBe(0);
    const write = await stores.sql.ownerQuery("UPDATE tenants SET name = name WHERE slug = 'default'");
    expect(write.rowCount).toBe(1);
  });

  it('the platform migration created the default tenant once', async () => {
    const { rows } = await stores.sql.ownerQuery<{ slug: string }>("SELECT slug FROM tenants WHERE slug = 'default'");
    expect(rows).toHaveLength(1);
  });

  it('refuses to run when an applied migration file has changed', async () => {
    const changed: Migration[] = migrations.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited`, checksum: 'f'.repeat(64) } : m));
    const err = await migrate(stores.sql, changed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/0001_platform was changed after it was applied; write a new migration instead/);
    // …and left the lock free: the unchanged set still runs.
    expect(await migrate(stores.sql)).toEqual([]);
  });

  it('applies a new migration once, in a transaction; a failing one leaves no trace', async () => {
    const next = Math.max(...migrations.map((m) => m.version)) + 1;
    const ok: Migration = { version: next, name: `${String(next).padStart(4, '0')}_probe_ok`, sql: 'CREATE TABLE migration_probe (id int PRIMARY KEY);', checksum: 'a'.repeat(64) };
    const bad: Migration = { version: next + 1, name: `${String(next + 1).padStart(4, '0')}_probe_bad`, sql: 'CREATE TABLE migration_probe_2 (id int); SELECT no_such_function();', checksum: 'b'.repeat(64) };
    const err = await migrate(stores.sql, [...migrations, ok, bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/_probe_bad failed/);
    const tables = await stores.sql.ownerQuery<{ t: string | null; t2: string | null }>(
      "SELECT to_regclass('public.migration_probe')::text AS t, to_regclass('public.migration_probe_2')::text AS t2");
    expect(tables.rows[0]).toEqual({ t: 'migration_probe', t2: null });
    const { rows } = await stores.sql.ownerQuery<{ version: number }>('SELECT version FROM schema_migrations WHERE version >= $1 ORDER BY version', [next]);
    expect(rows.map((r) => Number(r.version))).toEqual([next]);
    expect(await migrate(stores.sql, [...migrations, ok])).toEqual([]);
    await stores.sql.ownerQuery('DROP TABLE migration_probe');
    await stores.sql.ownerQuery('DELETE FROM schema_migrations WHERE version >= $1', [next]);
  });

  it('a unit of work still runs as the app role after concurrent migrations', async () => {
    const { rows } = await stores.sql.tx(null, (tx) => tx.query<{ u: string }>('SELECT current_user AS u'));
    expect(rows[0]!.u).toBe('authplane_app');
  });
});
