import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ALL_TENANTS, APP_ROLE } from '../../src/db/scope.js';
import type { Tx } from '../../src/db/sql.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';

/**
 * Tenant isolation is enforced by Postgres, not by the application's WHERE clauses (DESIGN §2):
 * every unit of work runs as a role without BYPASSRLS, with the tenant in a transaction-local setting.
 * On PGlite too: it connects as a superuser, so the drop to the app role is what makes RLS apply.
 */
let stores: Stores;
let tenantA: string;
let tenantB: string;

const insertEvent = (tx: Tx, tenantId: string | null, action: string) => tx.query(
  `INSERT INTO audit_events (tenant_id, occurred_at, actor_type, action, outcome, prev_hash, hash, chain_version)
   VALUES ($1, now(), 'system', $2, 'success', 'x', 'x', 2)`, [tenantId, action]);

const count = async (tx: Tx, where = 'true', params: unknown[] = []) =>
  (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE ${where}`, params)).rows[0]!.n;

/** Runs `fn` and returns the Postgres error it fails with. */
async function pgError(fn: () => Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: string; message: string; cause?: { code?: string } };
    return { code: e.code ?? e.cause?.code, message: e.message };
  }
  throw new Error('expected the statement to fail');
}

beforeAll(async () => {
  stores = await createStores();
  const ins = async (slug: string) => (await stores.sql.ownerQuery<{ id: string }>(
    'INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id', [slug])).rows[0]!.id;
  tenantA = await ins('rls-tenant-a');
  tenantB = await ins('rls-tenant-b');
  await stores.sql.tx(tenantA, async (tx) => {
    await insertEvent(tx, tenantA, 'a.one');
    await insertEvent(tx, tenantA, 'a.two');
  });
  await stores.sql.tx(tenantB, (tx) => insertEvent(tx, tenantB, 'b.one'));
});
afterAll(async () => { await stores?.drop(); });

describe(`row-level security (${BACKEND})`, () => {
  it('the app role is neither superuser nor BYPASSRLS, and every unit of work runs as it', async () => {
    const { rows } = await stores.sql.ownerQuery<{ rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>(
      'SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcanlogin: false }]);
    for (const scope of [tenantA, null, ALL_TENANTS] as const) {
      const r = await stores.sql.tx(scope, (tx) => tx.query<{ u: string }>('SELECT current_user AS u'));
      expect(r.rows[0]!.u).toBe(APP_ROLE);
    }
  });

  it('every table with a tenant_id column has row-level security enabled AND forced, and a policy', async () => {
    const { rows } = await stores.sql.ownerQuery<{ table: string; rls: boolean; forced: boolean; policies: number }>(`
      SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
             (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped AND a.attnum > 0
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
         AND c.relkind IN ('r', 'p')
       ORDER BY c.relname`);
    expect(rows.map((r) => r.table)).toContain('audit_events');
    const unprotected = rows.filter((r) => !r.rls || !r.forced || r.policies === 0).map((r) => r.table);
    expect(unprotected, 'tables with tenant_id lacking ENABLE + FORCE ROW LEVEL SECURITY and a policy').toEqual([]);
  });

  it('no view exposes a tenant-scoped table around RLS (views run as their owner unless security_invoker)', async () => {
    const { rows } = await stores.sql.ownerQuery<{ view: string }>(`
      SELECT c.relname AS view FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
       WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
         AND NOT coalesce(c.reloptions::text[] @> ARRAY['security_invoker=true'], false)
         AND has_table_privilege($1, c.oid, 'SELECT')`, [APP_ROLE]);
    expect(rows).toEqual([]);
  });

  it("tenant A's unit of work sees only A's rows", async () => {
    await stores.sql.tx(tenantA, async (tx) => {
      expect(await count(tx)).toBe(2);
      expect(await count(tx, 'tenant_id = $1', [tenantB])).toBe(0);
      expect(await count(tx, "action LIKE 'b.%'")).toBe(0);
    });
    await stores.sql.tx(tenantB, async (tx) => {
      expect(await count(tx)).toBe(1);
      expect(await count(tx, 'tenant_id = $1', [tenantA])).toBe(0);
    });
  });

  it('a unit of work without a tenant sees no tenant rows', async () => {
    await stores.sql.tx(null, async (tx) => {
      expect(await count(tx, 'tenant_id IS NOT NULL')).toBe(0);
    });
  });

  it('the admin plane scope (ALL_TENANTS) sees every tenant', async () => {
    await stores.sql.tx(ALL_TENANTS, async (tx) => {
      expect(await count(tx, 'tenant_id IN ($1, $2)', [tenantA, tenantB])).toBe(3);
    });
  });

  it("an INSERT for tenant B inside tenant A's unit of work is refused by WITH CHECK", async () => {
    const err = await pgError(() => stores.sql.tx(tenantA, (tx) => insertEvent(tx, tenantB, 'a.forged')));
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/row-level security/);
    const nullTenant = await pgError(() => stores.sql.tx(tenantA, (tx) => insertEvent(tx, null, 'a.platform')));
    expect(nullTenant.message).toMatch(/row-level security/);
    await stores.sql.tx(ALL_TENANTS, async (tx) => { expect(await count(tx, "action LIKE 'a.forged%' OR action = 'a.platform'")).toBe(0); });
  });

  it('the tenant setting does not outlive its transaction (pooled connections are reused)', async () => {
    for (let i = 0; i < 6; i++) {
      await stores.sql.tx(i % 2 ? tenantA : tenantB, (tx) => tx.query('SELECT 1'));
      await stores.sql.tx(null, async (tx) => {
        const { rows } = await tx.query<{ t: string | null; all: string | null }>(
          "SELECT current_setting('app.tenant_id', true) AS t, current_setting('app.all_tenants', true) AS all");
        expect(rows[0]!.t ?? '').toBe('');
        expect(rows[0]!.all).not.toBe('on');
        expect(await count(tx, 'tenant_id IS NOT NULL')).toBe(0);
      });
    }
  });

  it('a failed unit of work rolls back and the next one starts clean', async () => {
    await pgError(() => stores.sql.tx(tenantA, async (tx) => {
      await insertEvent(tx, tenantA, 'a.rolled-back');
      await tx.query('SELECT no_such_function()');
    }));
    await stores.sql.tx(tenantA, async (tx) => {
      expect(await count(tx, "action = 'a.rolled-back'")).toBe(0);
      expect((await tx.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(APP_ROLE);
    });
  });

  it('refuses a tenant scope that is not a uuid (the id is inlined into SET statements)', async () => {
    await expect(stores.sql.tx("x'; SET ROLE postgres; --", (tx) => tx.query('SELECT 1'))).rejects.toThrow(/uuid/);
    await expect(stores.sql.tx(randomUUID(), (tx) => count(tx))).resolves.toBe(0);
  });

  it('audit_events is append-only for the app role: UPDATE and DELETE are denied', async () => {
    const update = await pgError(() => stores.sql.tx(tenantA, (tx) => tx.query("UPDATE audit_events SET outcome = 'failure'")));
    expect(update.code).toBe('42501');
    expect(update.message).toMatch(/permission denied/);
    const del = await pgError(() => stores.sql.tx(tenantA, (tx) => tx.query('DELETE FROM audit_events')));
    expect(del.code).toBe('42501');
    expect(del.message).toMatch(/permission denied/);
    const truncate = await pgError(() => stores.sql.tx(ALL_TENANTS, (tx) => tx.query('TRUNCATE audit_events')));
    expect(truncate.message).toMatch(/permission denied|must be owner/);
    await stores.sql.tx(ALL_TENANTS, async (tx) => { expect(await count(tx, 'tenant_id IN ($1, $2)', [tenantA, tenantB])).toBe(3); });
  });

  it('the app role cannot change the schema', async () => {
    const err = await pgError(() => stores.sql.tx(tenantA, (tx) => tx.query('ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY')));
    expect(err.message).toMatch(/must be owner|permission denied/);
    const create = await pgError(() => stores.sql.tx(null, (tx) => tx.query('CREATE TABLE rls_probe (id int)')));
    expect(create.message).toMatch(/permission denied/);
  });
});
