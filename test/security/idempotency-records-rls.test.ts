import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tx } from '../../src/db/sql.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createIdempotencyStore } from '../../src/modules/idempotency/store.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';

/**
 * idempotency_records holds sealed responses (API keys, tokens): RLS keeps each tenant's records to that
 * tenant (test/security/rls.test.ts checks that the table has RLS enabled, forced and a policy); platform
 * records (admin requests, tenant_id null) are seen only in the platform scope.
 */
let stores: Stores;
let tenantA: string;
let tenantB: string;
const clock = createManualClock(Date.now());
let store: ReturnType<typeof createIdempotencyStore>;

const insert = (tx: Tx, key: string, tenantId: string | null) => tx.query(
  'INSERT INTO idempotency_records (record_key, tenant_id, fingerprint, attempt, recorded_at) VALUES ($1, $2, $3, $4, now())',
  [key, tenantId, 'fp', randomUUID()]);
const visible = async (tx: Tx) => (await tx.query<{ record_key: string }>('SELECT record_key FROM idempotency_records ORDER BY record_key')).rows.map((r) => r.record_key);

async function pgError(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the statement to fail');
}

beforeAll(async () => {
  stores = await createStores();
  const ins = async (slug: string) => (await stores.sql.ownerQuery<{ id: string }>('INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id', [slug])).rows[0]!.id;
  tenantA = await ins('idem-rls-a');
  tenantB = await ins('idem-rls-b');
  store = createIdempotencyStore({ kv: stores.kv, sql: stores.sql, clock, authSecret: 'test-secret-0123456789abcdef0123456789abcdef' });
  await stores.sql.tx(tenantA, (tx) => insert(tx, 'a-1', tenantA));
  await stores.sql.tx(null, (tx) => insert(tx, 'platform-1', null));
});
afterAll(async () => { await stores?.drop(); });

describe(`idempotency_records across tenants (${BACKEND})`, () => {
  it("tenant B sees none of A's records, and cannot change or delete them", async () => {
    await stores.sql.tx(tenantB, async (tx) => {
      expect(await visible(tx)).toEqual([]);
      expect((await tx.query("UPDATE idempotency_records SET fingerprint = 'forged'")).rowCount).toBe(0);
      expect((await tx.query('DELETE FROM idempotency_records')).rowCount).toBe(0);
    });
    await stores.sql.tx(tenantA, async (tx) => { expect(await visible(tx)).toEqual(['a-1']); });
    expect((await stores.sql.ownerQuery<{ fingerprint: string }>("SELECT fingerprint FROM idempotency_records WHERE record_key = 'a-1'")).rows[0]!.fingerprint).toBe('fp');
  });

  it("tenant B cannot write a record for A (WITH CHECK), nor take A's key over through ON CONFLICT", async () => {
    expect(await pgError(() => stores.sql.tx(tenantB, (tx) => insert(tx, 'b-forged', tenantA)))).toMatch(/row-level security/);
    // The same primary key from B: the conflicting row is A's, which B's policy does not admit to update.
    const takeover = await stores.sql.tx(tenantB, (tx) => tx.query(
      `INSERT INTO idempotency_records AS r (record_key, tenant_id, fingerprint, attempt, recorded_at) VALUES ('a-1', $1, 'forged', $2, now())
       ON CONFLICT (record_key) DO UPDATE SET fingerprint = excluded.fingerprint RETURNING 1`, [tenantB, randomUUID()])).catch((e: Error) => e);
    if (!(takeover instanceof Error)) expect(takeover.rowCount).toBe(0);
    expect((await stores.sql.ownerQuery<{ fingerprint: string; tenant_id: string }>("SELECT fingerprint, tenant_id FROM idempotency_records WHERE record_key = 'a-1'")).rows)
      .toEqual([{ fingerprint: 'fp', tenant_id: tenantA }]);
  });

  it('platform records are seen in the platform scope only; a tenant sees none', async () => {
    await stores.sql.tx(null, async (tx) => { expect(await visible(tx)).toEqual(['platform-1']); });
    await stores.sql.tx(tenantA, async (tx) => { expect(await visible(tx)).not.toContain('platform-1'); });
    expect(await pgError(() => stores.sql.tx(tenantA, (tx) => insert(tx, 'a-platform', null)))).toMatch(/row-level security/);
  });

  it("the store looks a key up in the caller's tenant only: B asking for A's record finds nothing", async () => {
    const key = `{${tenantA}}:idem:${randomUUID()}`;
    const attempt = { key, tenantId: tenantA, fp: 'fp-a', id: randomUUID() };
    expect(await store.storeResponse(attempt, { status: 201, contentType: 'application/json', body: '{"secret":"x"}' })).toBe(true);
    expect(await store.recorded(tenantA, key, 'fp-a')).toMatchObject({ kind: 'replay', status: 201, body: '{"secret":"x"}' });
    expect(await store.recorded(tenantB, key, 'fp-a')).toEqual({ kind: 'none' });
    expect(await store.recorded(null, key, 'fp-a')).toEqual({ kind: 'none' });
  });
});
