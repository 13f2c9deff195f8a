import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../../src/modules/sessions/session-store.js';
import { createIdempotencyStore } from '../../../src/modules/idempotency/store.js';
import { createOneTimeTokens } from '../../../src/modules/one-time-tokens/service.js';
import { createMfaKvStore } from '../../../src/modules/mfa/kv-store.js';
import type { Tenant } from '../../../src/modules/tenants/schemas.js';
import { createTestApp, TEST_AUTH_SECRET, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { startRedisCluster, type RedisCluster } from '../../helpers/redis-cluster.js';

/**
 * Issue #17: the keys of ONE busy tenant spread over every master of a Redis Cluster. A local 3-master
 * cluster is started on free ports; the real module stores write what 1,000 users and 1,000 client
 * addresses of one tenant leave behind (a session each with its index, step-up and revoked-token marker;
 * rate-limit buckets of two classes per address; an idempotency claim per user; a mail cap and an MFA
 * attempt window per user); then every master is scanned for this test's keys: each holds some, none
 * more than 45 %. Under the old layout (the tenant as the hash tag) all of them sat on one master.
 */
const USERS = 1_000;
const ADDRESSES = 1_000;

let cluster: RedisCluster;
let stores: Stores;
let t: TestApp;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  stores = await createStores({ now: () => Date.now(), redisUrl: cluster.url });
  t = await createTestApp({ stores });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await stores?.drop();
  await cluster?.stop();
});

/** This test's keys on each master (SCAN MATCH <prefix>*), in the order of `cluster.ports`. */
async function keysPerMaster(prefix: string): Promise<number[]> {
  return Promise.all(cluster.ports.map(async (port) => {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      return n;
    } finally {
      r.disconnect();
    }
  }));
}

/** Runs `fn(i)` for i in [0, n) with at most `width` at a time. */
async function each(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

describe(`one tenant on a 3-master Redis Cluster (${BACKEND} database)`, () => {
  it('spreads 1,000 users and 1,000 client addresses over every master, none above 45 %', async () => {
    const tenant: Tenant = await t.deps.tenants.defaultTenant();
    const kv = stores.kv;
    const sessions = createSessionStore(kv);
    const idempotency = createIdempotencyStore({ kv, sql: stores.sql, clock: t.clock, authSecret: TEST_AUTH_SECRET });
    const mail = createOneTimeTokens({ sql: stores.sql, kv, clock: t.clock });
    const mfa = createMfaKvStore(kv);
    const rateLimit = t.deps.services.rateLimit;
    const now = t.clock.nowMs();

    await each(USERS, 25, async (i) => {
      const userId = randomUUID();
      const sid = randomUUID();
      await sessions.put({
        id: sid, tenantId: tenant.id, userId, createdAt: now, expiresAt: now + 3_600_000,
        amr: ['pwd'], method: 'password', ip: null, userAgent: null,
      }, now);
      await sessions.setStepUp(tenant.id, userId, sid, now, 300_000);
      await sessions.revokeJti(tenant.id, userId, randomUUID(), 60_000);
      // What check() reads in one MGET must still be one slot's keys.
      const check = await sessions.check(tenant.id, userId, sid, randomUUID());
      expect(check.session?.id).toBe(sid);
      const digest = createHash('sha256').update(`${userId}|POST /auth/orgs|${i}`).digest('hex');
      expect((await idempotency.begin(idempotency.recordKey(tenant.id, digest), 'fp')).kind).toBe('proceed');
      expect(await mail.mayMail(tenant.id, 'email_verification', `user${i}@example.com`)).toBe(true);
      await mfa.countAttempt(tenant.id, userId, 5, 60_000, now);
    });
    await each(ADDRESSES, 25, async (i) => {
      const ip = `10.${(i >> 8) & 255}.${i & 255}.7`;
      for (const [cls, route] of [['credential', 'POST /auth/login'], ['default', 'GET /auth/me']] as const) {
        const r = await rateLimit.hit({ cls, tenant, route, ip, ctx: () => ({ ip, userAgent: null, requestId: 'spread' }) });
        expect(r.allowed).toBe(true);
      }
    });

    const counts = await keysPerMaster(stores.kvPrefix);
    const total = counts.reduce((a, b) => a + b, 0);
    // 1,000 × (session, index, step-up, revoked jti, idempotency claim, mail cap, MFA window) + 1,000 × 2 buckets.
    expect(total).toBeGreaterThanOrEqual(USERS * 7 + ADDRESSES * 2);
    for (const [i, n] of counts.entries()) {
      expect(n, `master ${cluster.ports[i]} holds ${n} of ${total} keys`).toBeGreaterThan(0);
      expect(n / total, `master ${cluster.ports[i]} holds ${n} of ${total} keys`).toBeLessThanOrEqual(0.45);
    }
  }, 120_000);
});
