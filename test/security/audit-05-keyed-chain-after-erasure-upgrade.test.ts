import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_AUTH_SECRET, type TestApp } from '../helpers/app.js';
import { createStores, type Stores } from '../helpers/backend.js';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { chainKeys, keyedRowHash, type ChainedFields } from '../../src/modules/audit/chain.js';

/**
 * Migration 0015 (chain version 3, erasable personal fields) on a log written by the version before it:
 * version-2 rows keep verifying and new rows chain on from them as version 3; a version-2 row after a
 * version-3 one is a break; and deleting an account erases its version-3 rows only — version-2 rows hash
 * their personal fields in the clear, so they keep them (the documented limit, docs/audit.md).
 */
let stores: Stores;
let t: TestApp;
let tenantId: string;
let userId: string;
const EMAIL = `old-rows-${process.pid}@example.com`;
const OLD_IP = '192.0.2.201';
const NEW_IP = '192.0.2.202';
const rowKey = chainKeys(TEST_AUTH_SECRET).row;

const rowsOf = async () => (await stores.sql.ownerQuery<{ seq: string; id: string; chain_version: number; prev_hash: string; hash: string; ip: string | null; metadata: Record<string, unknown>; erased_at: Date | null }>(
  'SELECT seq, id, chain_version, prev_hash, hash, ip, metadata, erased_at FROM audit_events WHERE tenant_id = $1 ORDER BY seq', [tenantId])).rows;

beforeAll(async () => {
  stores = await createStores({ migrate: false });
  await migrate(stores.sql, loadMigrations().filter((m) => m.version < 15));
  tenantId = (await stores.sql.ownerQuery<{ id: string }>("INSERT INTO tenants (slug, name) VALUES ('before-0015', 'Before') RETURNING id")).rows[0]!.id;
  userId = (await stores.sql.ownerQuery<{ id: string }>('INSERT INTO users (tenant_id, email) VALUES ($1, $2) RETURNING id', [tenantId, EMAIL])).rows[0]!.id;
  // What the previous version's append wrote: version 2, the IP and the typed address hashed in the clear.
  let prev = '0'.repeat(64);
  for (let i = 0; i < 3; i++) {
    const f: ChainedFields = {
      tenantId, occurredAt: new Date(Date.UTC(2026, 5, 1, 0, i)), actorType: i ? 'user' : 'anonymous', actorId: i ? userId : null, action: 'user.login',
      target: null, outcome: i ? 'success' : 'failure', ip: OLD_IP, userAgent: 'old-agent', requestId: `r${i}`, metadata: i ? { method: 'password' } : { method: 'password', email: EMAIL },
    };
    const hash = keyedRowHash(rowKey, prev, f);
    await stores.sql.ownerQuery(
      `INSERT INTO audit_events (tenant_id, occurred_at, actor_type, actor_id, action, target, outcome, ip, user_agent, request_id, metadata, prev_hash, hash, chain_version)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,2)`,
      [f.tenantId, f.occurredAt, f.actorType, f.actorId, f.action, f.target, f.outcome, f.ip, f.userAgent, f.requestId, JSON.stringify(f.metadata), prev, hash]);
    prev = hash;
  }
  await migrate(stores.sql); // 0015 and anything later
  t = await createTestApp({ stores });
}, 120_000);
afterAll(async () => { await t?.close(); await stores?.drop(); });

describe('a log of chain version 2 after migration 0015', () => {
  it('verifies; new rows are version 3 and chain on from the last version-2 row', async () => {
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
    await t.deps.audit.record({ tenantId, actor: { type: 'anonymous', id: null }, action: 'user.login', outcome: 'failure', ip: NEW_IP, userAgent: 'new-agent', metadata: { method: 'password', email: EMAIL } });
    await t.deps.audit.record({ tenantId, actor: { type: 'user', id: userId }, action: 'user.login', outcome: 'success', ip: NEW_IP, userAgent: 'new-agent', metadata: { method: 'password' } });
    const rows = await rowsOf();
    expect(rows.map((r) => Number(r.chain_version))).toEqual([2, 2, 2, 3, 3]);
    expect(rows[3]!.prev_hash).toBe(rows[2]!.hash);
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
  });

  it('deleting the account erases its version-3 rows; its version-2 rows keep their fields (the documented limit); the chain verifies', async () => {
    const adminKey = (await t.deps.adminKeys.create({ name: 'upgrade', expiresInDays: 1 })).key;
    const del = await call(t.app, { method: 'DELETE', url: `/auth/admin/users/${userId}`, token: adminKey });
    expect(del.statusCode, del.body).toBe(204);
    const rows = await rowsOf();
    const v3 = rows.filter((r) => Number(r.chain_version) === 3 && (r.erased_at !== null));
    expect(v3).toHaveLength(2);
    for (const r of v3) expect(r.ip).toBeNull();
    expect(v3[0]!.metadata).toEqual({ method: 'password', email: '[erased]' });
    const v2 = rows.filter((r) => Number(r.chain_version) === 2);
    expect(v2.map((r) => [r.ip, r.erased_at])).toEqual([[OLD_IP, null], [OLD_IP, null], [OLD_IP, null]]);
    expect(v2[0]!.metadata).toEqual({ method: 'password', email: EMAIL });
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
  });

  it('a version-2 row after a version-3 row is a break (personal fields would be hashed in the clear again)', async () => {
    const rows = await rowsOf();
    const last = rows[rows.length - 1]!;
    const full = (await stores.sql.ownerQuery<Record<string, unknown>>('SELECT * FROM audit_events WHERE id = $1', [last.id])).rows[0]!;
    const f: ChainedFields = {
      tenantId, occurredAt: new Date(full.occurred_at as Date), actorType: full.actor_type as string, actorId: full.actor_id as string | null, action: full.action as string,
      target: full.target as string | null, outcome: full.outcome as string, ip: full.ip as string | null, userAgent: full.user_agent as string | null,
      requestId: full.request_id as string | null, metadata: full.metadata,
    };
    // Even with AUTH_SECRET (a valid version-2 MAC), going back a version is refused.
    await stores.sql.ownerQuery('UPDATE audit_events SET chain_version = 2, personal = NULL, hash = $2 WHERE id = $1', [last.id, keyedRowHash(rowKey, last.prev_hash, f)]);
    const breaks = (await t.deps.audit.verify()).breaks.filter((b) => b.tenantId === tenantId);
    // (the stored head names the row's former hash, so it is also reported as rewritten at the tail)
    expect(breaks.map((b) => b.problem)).toEqual(['version_downgrade', 'truncated']);
    expect(breaks[0]).toEqual({ tenantId, seq: Number(last.seq), id: last.id, problem: 'version_downgrade' });
  });
});
