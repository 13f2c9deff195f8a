import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANTS } from '../../src/db/scope.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

/**
 * The audit log is a hash chain per tenant (and one for platform events): each row's hash covers its
 * fields and the previous row's hash, so an edit made around the application (as the table owner,
 * bypassing the app role's append-only grant) is detected by verify() — and `authplane audit-verify`.
 */
let t: TestApp;
let a: string;
let b: string;

const rowsOf = (tenantId: string) => t.deps.sql.tx(ALL_TENANTS, async (tx) =>
  (await tx.query<{ seq: number; id: string; action: string; outcome: string; metadata: Record<string, unknown> }>(
    'SELECT seq, id, action, outcome, metadata FROM audit_events WHERE tenant_id = $1 ORDER BY seq', [tenantId])).rows);

beforeAll(async () => {
  t = await createTestApp();
  a = (await t.deps.tenants.create({ slug: 'audit-a', name: 'A' })).id;
  b = (await t.deps.tenants.create({ slug: 'audit-b', name: 'B' })).id;
  const ctx = { ip: '203.0.113.7', userAgent: 'vitest', requestId: 'req-audit' };
  // Concurrent writers on one tenant still chain to distinct parents (per-tenant advisory lock).
  await Promise.all([
    t.deps.audit.record({ tenantId: a, actor: { type: 'user', id: 'u1' }, action: 'user.login', outcome: 'failure', ...ctx, metadata: { reason: 'bad password' } }),
    t.deps.audit.record({ tenantId: a, actor: { type: 'user', id: 'u1' }, action: 'user.login', outcome: 'success', ...ctx }),
    t.deps.audit.record({ tenantId: b, actor: { type: 'user', id: 'u2' }, action: 'user.register', outcome: 'success', ...ctx }),
    t.deps.audit.record({ tenantId: null, actor: { type: 'system', id: 'cli' }, action: 'tenant.create', target: a, outcome: 'success' }),
  ]);
  await t.deps.audit.record({ tenantId: a, actor: { type: 'user', id: 'u1' }, action: 'api_key.create', outcome: 'success', ...ctx, metadata: { apiKey: 'ck_shouldNeverBeStored1234567890', nested: { refresh_token: 'x.y' } } });
  await t.deps.audit.record({ tenantId: b, actor: { type: 'user', id: 'u2' }, action: 'user.logout', outcome: 'success', ...ctx });
});
afterAll(async () => { await t?.close(); });

describe('audit hash chain', () => {
  it('an untouched log verifies', async () => {
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
    expect(await rowsOf(a)).toHaveLength(3);
    expect(await rowsOf(b)).toHaveLength(2);
  });

  it('rows are chained per tenant: each prev_hash is the previous row of the same tenant', async () => {
    const { rows } = await t.stores.sql.ownerQuery<{ tenant_id: string | null; prev_hash: string; hash: string }>(
      'SELECT tenant_id, prev_hash, hash FROM audit_events ORDER BY seq');
    const last = new Map<string | null, string>();
    for (const r of rows) {
      expect(r.prev_hash).toBe(last.get(r.tenant_id) ?? '0'.repeat(64));
      last.set(r.tenant_id, r.hash);
    }
  });

  it('metadata is redacted before it is written', async () => {
    const row = (await rowsOf(a)).find((r) => r.action === 'api_key.create')!;
    expect(JSON.stringify(row.metadata)).not.toMatch(/ck_should|x\.y/);
    expect(row.metadata).toMatchObject({ apiKey: '[REDACTED]', nested: { refresh_token: '[REDACTED]' } });
  });

  it("an edited row is reported for its tenant only, and the other chains stay intact", async () => {
    const failed = (await rowsOf(a)).find((r) => r.outcome === 'failure')!;
    // Tampering around the app: as the table owner (the app role may not UPDATE audit_events at all).
    const upd = await t.stores.sql.ownerQuery("UPDATE audit_events SET outcome = 'success' WHERE id = $1", [failed.id]);
    expect(upd.rowCount).toBe(1);
    const { breaks } = await t.deps.audit.verify();
    expect(breaks).toEqual([{ tenantId: a, seq: Number(failed.seq), id: failed.id, problem: 'hash_mismatch' }]);
  });

  it('a deleted row breaks the link of the row after it', async () => {
    const [first, second] = await rowsOf(b);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE id = $1', [first!.id]);
    const { breaks } = await t.deps.audit.verify();
    expect(breaks).toContainEqual({ tenantId: b, seq: Number(second!.seq), id: second!.id, problem: 'broken_link' });
    expect(breaks.map((x) => x.tenantId).sort()).toEqual([a, b].sort());
  });
});
