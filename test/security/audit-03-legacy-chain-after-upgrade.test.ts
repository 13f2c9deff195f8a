import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { createStores, type Stores } from '../helpers/backend.js';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { legacyRowHash, type ChainedFields } from '../../src/modules/audit/chain.js';

/**
 * Issue 24: a database migrated from the previous version holds rows chained with the old, unkeyed rule.
 * After migration 0010 they are chain version 1 and still verify; new rows are keyed (version 2) and chain
 * on from the last legacy row, so the first keyed row anchors the legacy prefix: rewriting it with the
 * public rule is then detected. A legacy chain no keyed row follows is as strong as before (an edit shows,
 * a consistent rewrite does not), and audit-verify prints a signed head for it to keep.
 */
let stores: Stores;
let t: TestApp;
let tenantId: string;
const ZERO = '0'.repeat(64);

/** The previous version's append, as it wrote rows (no chain_version column yet). */
async function legacyAppend(prev: string, f: ChainedFields): Promise<string> {
  const hash = legacyRowHash(prev, f);
  await stores.sql.ownerQuery(
    `INSERT INTO audit_events (tenant_id, occurred_at, actor_type, actor_id, action, target, outcome, ip, user_agent, request_id, metadata, prev_hash, hash)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
    [f.tenantId, f.occurredAt, f.actorType, f.actorId, f.action, f.target, f.outcome, f.ip, f.userAgent, f.requestId, JSON.stringify(f.metadata), prev, hash]);
  return hash;
}
const event = (tenant: string | null, i: number): ChainedFields => ({
  tenantId: tenant, occurredAt: new Date(Date.UTC(2026, 0, 1, 0, i)), actorType: 'user', actorId: `u${i}`, action: 'user.login',
  target: null, outcome: 'success', ip: '198.51.100.1', userAgent: 'legacy', requestId: `r${i}`, metadata: { i, nested: { b: 1, a: [2] } },
});
const rowsOf = async (tenant: string | null) => (await stores.sql.ownerQuery<{ seq: string; id: string; chain_version: number; prev_hash: string; hash: string }>(
  'SELECT seq, id, chain_version, prev_hash, hash FROM audit_events WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY seq', [tenant])).rows;

beforeAll(async () => {
  stores = await createStores({ migrate: false });
  await migrate(stores.sql, loadMigrations().filter((m) => m.version < 10));
  tenantId = (await stores.sql.ownerQuery<{ id: string }>("INSERT INTO tenants (slug, name) VALUES ('legacy', 'Legacy') RETURNING id")).rows[0]!.id;
  let prevT = ZERO;
  for (let i = 0; i < 4; i++) {
    prevT = await legacyAppend(prevT, event(tenantId, i));
    // The previous version's platform writer could not see earlier platform rows (RLS): each chained to genesis.
    await legacyAppend(ZERO, event(null, i));
  }
  await migrate(stores.sql); // 0010 and anything later
  t = await createTestApp({ stores });
});
afterAll(async () => { await t?.close(); await stores?.drop(); });

describe('a log written by the previous version', () => {
  it('verifies after the upgrade; legacy rows are chain version 1, and heads are printed for them', async () => {
    expect((await rowsOf(tenantId)).map((r) => Number(r.chain_version))).toEqual([1, 1, 1, 1]);
    const report = await t.deps.audit.verify();
    expect(report.breaks).toEqual([]);
    expect(report.heads.map((h) => h.tenantId)).toEqual(expect.arrayContaining([tenantId, null]));
  });

  it('new rows are keyed and chain on from the last legacy row', async () => {
    const before = await rowsOf(tenantId);
    await t.deps.audit.record({ tenantId, actor: { type: 'user', id: 'u9' }, action: 'user.logout', outcome: 'success' });
    await t.deps.audit.record({ tenantId, actor: { type: 'user', id: 'u9' }, action: 'user.login', outcome: 'success' });
    const after = await rowsOf(tenantId);
    expect(after.map((r) => Number(r.chain_version))).toEqual([1, 1, 1, 1, 3, 3]); // 3 since migration 0015 (personal fields as digests)
    expect(after[4]!.prev_hash).toBe(before[3]!.hash);
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
  });

  it('rewriting the legacy prefix with the public rule is detected by the first keyed row', async () => {
    const rows = await rowsOf(tenantId);
    // Hide the second event: delete it and recompute the legacy rows after it, as the old rule allows.
    await stores.sql.ownerQuery('DELETE FROM audit_events WHERE id = $1', [rows[1]!.id]);
    let prev = rows[0]!.hash;
    for (const i of [2, 3]) {
      const hash = legacyRowHash(prev, event(tenantId, i));
      await stores.sql.ownerQuery('UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE id = $1', [rows[i]!.id, prev, hash]);
      prev = hash;
    }
    // The legacy rows now link up again; only the keyed row after them sees the change.
    const breaks = (await t.deps.audit.verify()).breaks.filter((b) => b.tenantId === tenantId);
    expect(breaks).toEqual([{ tenantId, seq: Number(rows[4]!.seq), id: rows[4]!.id, problem: 'broken_link' }]);
  });

  it('legacy platform rows (each chained to genesis by the previous version) verify, and new platform rows chain on', async () => {
    await t.deps.audit.record({ tenantId: null, actor: { type: 'system', id: 'cli' }, action: 'tenant.create', outcome: 'success' });
    await t.deps.audit.record({ tenantId: null, actor: { type: 'system', id: 'cli' }, action: 'tenant.create', outcome: 'success' });
    const rows = await rowsOf(null);
    const keyed = rows.filter((r) => Number(r.chain_version) >= 2);
    expect(keyed.length).toBeGreaterThanOrEqual(2);
    expect(keyed[1]!.prev_hash).toBe(keyed[0]!.hash);
    expect(keyed[0]!.prev_hash).toBe(rows[rows.indexOf(keyed[0]!) - 1]!.hash);
    expect((await t.deps.audit.verify()).breaks.filter((b) => b.tenantId === null)).toEqual([]);
  });

  it('an edited legacy row of a chain no keyed row follows is still a hash mismatch', async () => {
    const rows = await rowsOf(null);
    const legacy = rows.filter((r) => Number(r.chain_version) === 1);
    await stores.sql.ownerQuery("UPDATE audit_events SET outcome = 'failure' WHERE id = $1", [legacy[2]!.id]);
    const breaks = (await t.deps.audit.verify()).breaks.filter((b) => b.tenantId === null);
    expect(breaks).toEqual([{ tenantId: null, seq: Number(legacy[2]!.seq), id: legacy[2]!.id, problem: 'hash_mismatch' }]);
  });
});
