import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, REDIS_URL } from '../helpers/backend.js';
import { createDeps } from '../../src/deps.js';
import { createMemoryKv } from '../../src/kv/memory.js';
import { createRedisKv } from '../../src/kv/redis.js';
import { createLogger } from '../../src/http/logger.js';
import { canonicalJson, legacyRowHash, signHead, type ChainedFields } from '../../src/modules/audit/chain.js';
import { createHeadStore } from '../../src/modules/audit/head-store.js';
import { sha256Hex } from '../../src/lib/crypto.js';

/**
 * Issue 24: the audit chain could be truncated or rewritten undetected — deleting the newest rows, or deleting
 * rows and recomputing the chain with the public hash rule, left `audit-verify` reporting "intact". Now rows
 * are keyed (HMAC under AUTH_SECRET) and each chain's signed head is kept outside the table (Redis, or
 * DATA_DIR with the in-process store); heads printed by earlier runs can be checked too (--expect-head).
 */
let t: TestApp;
let n = 0;

beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t?.close(); });

interface Row { seq: string; id: string; tenant_id: string | null; occurred_at: Date; actor_type: string; actor_id: string | null; action: string; target: string | null; outcome: string; ip: string | null; user_agent: string | null; request_id: string | null; metadata: unknown; prev_hash: string; hash: string }

async function tenantWithRows(count: number): Promise<string> {
  const id = (await t.deps.tenants.create({ slug: `chain-${++n}-${process.pid}`, name: 'Chain' })).id;
  for (let i = 0; i < count; i++) {
    await t.deps.audit.record({ tenantId: id, actor: { type: 'user', id: `u${i}` }, action: 'user.login', outcome: i % 2 ? 'failure' : 'success', ip: '203.0.113.9', metadata: { i } });
  }
  return id;
}
const rowsOf = async (tenantId: string) =>
  (await t.stores.sql.ownerQuery<Row>('SELECT * FROM audit_events WHERE tenant_id = $1 ORDER BY seq', [tenantId])).rows;
const fieldsOf = (r: Row): ChainedFields => ({
  tenantId: r.tenant_id, occurredAt: new Date(r.occurred_at), actorType: r.actor_type, actorId: r.actor_id, action: r.action,
  target: r.target, outcome: r.outcome, ip: r.ip, userAgent: r.user_agent, requestId: r.request_id, metadata: r.metadata,
});
const breaksFor = async (tenantId: string | null, expectHeads?: string[]) => (await t.deps.audit.verify({ expectHeads })).breaks.filter((b) => b.tenantId === tenantId);

/** What an attacker with write access to the table (but not AUTH_SECRET) can do: recompute the chain from `from` on. */
async function recompute(rows: Row[], rule: (prev: string, f: ChainedFields) => string, o: { version?: number } = {}) {
  let prev = '0'.repeat(64);
  for (const r of rows) {
    const hash = rule(prev, fieldsOf(r));
    await t.stores.sql.ownerQuery(`UPDATE audit_events SET prev_hash = $2, hash = $3${o.version ? `, chain_version = ${o.version}` : ''} WHERE id = $1`, [r.id, prev, hash]);
    prev = hash;
  }
}

describe('rewriting the chain needs AUTH_SECRET', () => {
  it('deleting a row and recomputing the chain with the public (legacy) rule is detected', async () => {
    const id = await tenantWithRows(5);
    expect(await breaksFor(id)).toEqual([]);
    const rows = await rowsOf(id);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE id = $1', [rows[1]!.id]);
    const rest = rows.filter((_, i) => i !== 1);
    // Recomputed with the old public rule, rows marked legacy: the stored head no longer matches.
    await recompute(rest, legacyRowHash, { version: 1 });
    expect((await breaksFor(id)).map((b) => b.problem)).toEqual(['truncated']);
  });

  it('recomputing with the public rule but leaving rows marked keyed is a hash mismatch', async () => {
    const id = await tenantWithRows(4);
    const rows = await rowsOf(id);
    await t.stores.sql.ownerQuery('UPDATE audit_events SET outcome = $2 WHERE id = $1', [rows[2]!.id, 'success']);
    rows[2]!.outcome = 'success';
    // The public rule, spelled out as the previous version documented it.
    await recompute(rows, (prev, f) => sha256Hex(canonicalJson([prev, f.tenantId, f.occurredAt.toISOString(), f.actorType, f.actorId, f.action, f.target, f.outcome, f.ip, f.userAgent, f.requestId, f.metadata])));
    expect(await breaksFor(id)).toContainEqual({ tenantId: id, seq: Number(rows[0]!.seq), id: rows[0]!.id, problem: 'hash_mismatch' });
  });

  it('a legacy (unkeyed) row after a keyed row is refused', async () => {
    const id = await tenantWithRows(3);
    const rows = await rowsOf(id);
    const last = rows[2]!;
    await t.stores.sql.ownerQuery('UPDATE audit_events SET hash = $2, chain_version = 1 WHERE id = $1', [last.id, legacyRowHash(last.prev_hash, fieldsOf(last))]);
    expect(await breaksFor(id)).toContainEqual({ tenantId: id, seq: Number(last.seq), id: last.id, problem: 'unkeyed_after_keyed' });
  });
});

describe('truncation is detected by the signed head kept outside the table', () => {
  it('deleting the newest rows (the rest still links up) is reported as truncated', async () => {
    const id = await tenantWithRows(5);
    const rows = await rowsOf(id);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE seq >= $1 AND tenant_id = $2', [rows[3]!.seq, id]);
    expect(await breaksFor(id)).toEqual([{ tenantId: id, seq: Number(rows[4]!.seq), id: null, problem: 'truncated' }]);
  });

  it('deleting every row of a tenant is reported', async () => {
    const id = await tenantWithRows(2);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE tenant_id = $1', [id]);
    expect((await breaksFor(id)).map((b) => b.problem)).toEqual(['truncated']);
  });

  it('a head not signed with AUTH_SECRET is reported as forged', async () => {
    const id = await tenantWithRows(2);
    const rows = await rowsOf(id);
    const heads = createHeadStore({ kv: t.stores.kv, dataDir: t.config.dataDir });
    await heads.set(id, signHead(Buffer.alloc(32, 7), { tenantId: id, seq: Number(rows[0]!.seq), hash: rows[0]!.hash }));
    expect((await breaksFor(id)).map((b) => b.problem)).toEqual(['head_forged']);
  });

  it('replaying an older signed head hides a truncation from the stored head, not from a head kept by the operator', async () => {
    const id = await tenantWithRows(3);
    const heads = createHeadStore({ kv: t.stores.kv, dataDir: t.config.dataDir });
    const older = (await heads.get(id))!;
    await t.deps.audit.record({ tenantId: id, actor: { type: 'user', id: 'u9' }, action: 'api_key.create', outcome: 'success' });
    const report = await t.deps.audit.verify();
    const kept = report.heads.find((h) => h.tenantId === id)!.head;
    expect(kept).toBe(await heads.get(id));
    // The attacker deletes the newest row and puts the older (validly signed) head back.
    const rows = await rowsOf(id);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE id = $1', [rows[3]!.id]);
    await heads.set(id, older);
    expect(await breaksFor(id)).toEqual([]);
    expect(await breaksFor(id, [kept])).toEqual([{ tenantId: id, seq: Number(rows[3]!.seq), id: null, problem: 'kept_head_missing' }]);
    // A kept head that was tampered with is refused.
    const forged = kept.replace(/\.[A-Za-z0-9_-]{43}$/, `.${'A'.repeat(43)}`);
    expect((await t.deps.audit.verify({ expectHeads: [forged] })).breaks).toContainEqual(expect.objectContaining({ problem: 'expected_head_invalid' }));
  });

  it('the heads survive a restart of the key-value store\'s process (Redis; DATA_DIR with the in-process store)', async () => {
    const id = await tenantWithRows(3);
    const rows = await rowsOf(id);
    await t.stores.sql.ownerQuery('DELETE FROM audit_events WHERE id = $1', [rows[2]!.id]);
    // A new process: a fresh key-value client (an empty in-process store in embedded mode) on the same data.
    const kv = BACKEND === 'services' ? await createRedisKv(REDIS_URL, { prefix: t.stores.kvPrefix }) : createMemoryKv({ prefix: t.stores.kvPrefix });
    const deps = await createDeps(t.config, { sql: { ...t.stores.sql, close: async () => {} }, kv, clock: t.clock, log: createLogger('silent') });
    try {
      expect((await deps.audit.verify()).breaks.filter((b) => b.tenantId === id)).toEqual([{ tenantId: id, seq: Number(rows[2]!.seq), id: null, problem: 'truncated' }]);
    } finally {
      await deps.close();
      await kv.close();
    }
  });
});

describe('the platform chain (events of no tenant)', () => {
  it('each platform row chains to the previous platform row, and the chain verifies', async () => {
    for (let i = 0; i < 3; i++) await t.deps.audit.record({ tenantId: null, actor: { type: 'system', id: 'test' }, action: 'admin_key.create', outcome: 'success', metadata: { i } });
    const rows = (await t.stores.sql.ownerQuery<Row>('SELECT * FROM audit_events WHERE tenant_id IS NULL ORDER BY seq')).rows;
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    expect(await breaksFor(null)).toEqual([]);
  });
});

describe('concurrent writers: the head always names the newest row (race harness)', () => {
  it('50 concurrent audit writes, 3 rounds: the chain verifies and the head is its last row', async () => {
    const id = await tenantWithRows(0);
    const heads = createHeadStore({ kv: t.stores.kv, dataDir: t.config.dataDir });
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => t.deps.audit.record({ tenantId: id, actor: { type: 'user', id: `r${round}-${i}` }, action: 'user.login', outcome: 'success' })));
      const rows = await rowsOf(id);
      expect(rows).toHaveLength(50 * (round + 1));
      const head = (await heads.get(id))!;
      expect(head.split('.')[2]).toBe(String(rows[rows.length - 1]!.seq));
      expect(await breaksFor(id)).toEqual([]);
    }
  });
});
