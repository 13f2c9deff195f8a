import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { getUser, raiseLimits } from '../helpers/identity.js';
import { addPolicy, authorize, createOrg, join, user } from '../integration/orgs/org-helpers.js';
import type { Kv } from '../../src/kv/kv.js';
import { createRedisKv } from '../../src/kv/redis.js';
import { apiKeyStore } from '../../src/modules/api-keys/store.js';
import { policyStore } from '../../src/modules/orgs/policy-store.js';
import { redisServer, type RedisServer } from '../helpers/redis-server.js';

/**
 * Caches that rely on pub/sub invalidation after the subscriber lost its connection (issue 26). Two app
 * instances (A = t.app, B = t.second()) on a redis-server this test starts (on both backends; the database
 * is the backend's), so that `CLIENT KILL TYPE pubsub` and a restart touch nobody else's connections.
 * B has cached a session check, an API key and an org's policies; the change is made while B's subscriber
 * is disconnected, so its message never reaches B. Once B's subscriber is back, B must refuse at once: no
 * cache may answer from before the reconnect. The clock is the test's manual clock, so no cache bound ends
 * on its own here.
 */
let redis: RedisServer;
let stores: Stores;
let t: TestApp;
let b: { app: FastifyInstance; deps: TestApp['deps'] };
/** A connection of the test's own, opened before any outage so that `maxclients` never refuses it. */
let admin: Redis;

beforeAll(async () => {
  redis = await redisServer();
  await redis.start();
  stores = await createStores({ redisUrl: redis.url });
  t = await createTestApp({ stores });
  await raiseLimits(t);
  b = await t.second();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {}); // it reconnects by itself after the restart
  await admin.ping();
});
afterAll(async () => {
  admin?.disconnect();
  await t?.close();
  await stores?.drop();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Everything B has cached and the handles to change it: a bearer, an API key, an org decision. */
async function warmOnB() {
  const owner = await user(t, { prefix: 'owner' });
  const x = await user(t, { prefix: 'x' });
  const org = await createOrg(t.app, owner.accessToken);
  const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'viewer', permissions: ['docs:read'] } });
  expect(role.statusCode, role.body).toBe(200);
  await join(t.app, owner.accessToken, org.id, x, ['viewer']);
  const newKey = async (name: string) => {
    const created = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: x.accessToken, json: { name, scopes: ['*'] } });
    expect(created.statusCode, created.body).toBe(201);
    return { key: created.data.apiKey as string, id: created.data.id as string };
  };
  // One key to delete; another that asks for decisions (it outlives the sessions a restart loses).
  const { key, id: keyId } = await newKey('deleted');
  const { key: asker } = await newKey('asker');
  const bearer = await user(t, { prefix: 'bearer' });
  const canRead = async () => {
    const res = await authorize(b.app, '', { action: 'docs:read', orgId: org.id }, { 'x-api-key': asker });
    expect(res.statusCode, res.body).toBe(200);
    return res.data.allowed as boolean;
  };
  const keyStatus = async () => (await call(b.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': key } })).statusCode;
  const bearerStatus = async () => (await getUser(b.app, bearer.accessToken)).statusCode;
  // Twice each: the second answer comes from B's caches.
  for (let i = 0; i < 2; i++) {
    expect(await bearerStatus()).toBe(200);
    expect(await keyStatus()).toBe(200);
    expect(await canRead()).toBe(true);
  }
  return { owner, x, org, key, keyId, bearer, canRead, keyStatus, bearerStatus };
}

describe(`caches after a pub/sub reconnect (${BACKEND} database + own redis-server)`, () => {
  it('CLIENT KILL TYPE pubsub: changes announced while the subscriber was away are not answered from B\'s caches once it is back', async () => {
    const w = await warmOnB();
    const generation = b.deps.kv.subscriptionGeneration?.();
    // Existing connections stay; new ones (the subscribers reconnecting) are refused until maxclients is raised.
    await admin.config('SET', 'maxclients', '1');
    try {
      expect(await admin.client('KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(2);
      await until('B\'s subscriber to drop', () => !b.deps.kv.subscriptionsLive());
      // On A, through the API: each change is published while no subscriber can hear it.
      expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: w.bearer.accessToken })).statusCode).toBe(200);
      expect((await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${w.keyId}`, token: w.x.accessToken })).statusCode).toBe(204);
      await addPolicy(t.app, w.owner.accessToken, w.org.id, { name: 'freeze', effect: 'deny', actions: ['docs:read'] });
    } finally {
      await admin.config('SET', 'maxclients', '10000');
    }
    await until('B\'s subscriber to be back', () => b.deps.kv.subscriptionsLive());
    // At once, no waiting: nothing B cached before the reconnect is trusted.
    expect.soft(await w.bearerStatus()).toBe(401);
    expect.soft(await w.keyStatus()).toBe(401);
    expect.soft(await w.canRead()).toBe(false);
    expect(b.deps.kv.subscriptionGeneration()).not.toBe(generation);
  });

  it('a redis-server restart: what changed while Redis was down is not answered from B\'s caches once it is back', async () => {
    const w = await warmOnB();
    const tenantId = (await t.deps.tenants.resolve('default'))!.id;
    await redis.stop();
    await until('B\'s subscriber to drop', () => !b.deps.kv.subscriptionsLive());
    // Written to Postgres while Redis is down: no invalidation can be published, let alone delivered.
    await t.stores.sql.tx(tenantId, (tx) => apiKeyStore.revoke(tx, w.x.userId, w.keyId, new Date()));
    await t.stores.sql.tx(tenantId, (tx) => policyStore.insert(tx, {
      tenantId, orgId: w.org.id, name: 'freeze', description: null, effect: 'deny', actions: ['docs:read'], resources: null,
      condition: null, createdBy: w.owner.userId, now: new Date(),
    }));
    await redis.start();
    await until('B\'s subscriber to be back', () => b.deps.kv.subscriptionsLive());
    let status = 0;
    const deadline = Date.now() + 10_000;
    // The limiter answers 503 until B's command connection has reconnected too; the cached answers must never be 200.
    do {
      status = await w.keyStatus();
      if (status !== 503) break;
      await sleep(50);
    } while (Date.now() < deadline);
    expect.soft(status).toBe(401);
    expect.soft(await w.canRead()).toBe(false);
    // The restarted store lost every session: the bearer B had checked a moment ago is refused.
    expect.soft(await w.bearerStatus()).toBe(401);
  });
});

describe('Kv.subscriptionGeneration on a real Redis', () => {
  it('turns live only once every channel is subscribed again: a message published at once is delivered (50 reconnects)', async () => {
    const opened: Kv[] = [];
    try {
      const sub = await createRedisKv(redis.url, { prefix: 'gen-test:' });
      const pub = await createRedisKv(redis.url, { prefix: 'gen-test:' });
      opened.push(sub, pub);
      const got: string[] = [];
      for (const channel of ['a', 'b', 'c']) await sub.subscribe(channel, (m) => got.push(`${channel}:${m}`));
      expect(sub.subscriptionsLive()).toBe(true);
      const seen = new Set<number>([sub.subscriptionGeneration()]);
      let lost = 0;
      for (let i = 0; i < 50; i++) {
        await admin.client('KILL', 'TYPE', 'pubsub');
        await until('the subscriber to drop', () => !sub.subscriptionsLive());
        expect(sub.subscriptionGeneration() % 2).toBe(0);
        await until('the subscriber to be back', () => sub.subscriptionsLive());
        const g = sub.subscriptionGeneration();
        expect(seen.has(g)).toBe(false);
        seen.add(g);
        got.length = 0;
        await pub.publish('c', String(i));
        await until('delivery', () => got.length > 0, 1_000).catch(() => { lost++; });
        if (got.length > 0) expect(got).toEqual([`c:${i}`]);
      }
      expect(lost).toBe(0);
    } finally {
      for (const kv of opened) await kv.close();
    }
  });
});
