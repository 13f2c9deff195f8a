import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { eventually } from '../helpers/eventually.js';
import { register } from '../helpers/identity.js';
import { redisServer, type RedisServer } from '../helpers/redis-server.js';

/**
 * AV-01 for /mcp with the store really stopped: a redis-server this test starts and kills (on both
 * backends; the database is the backend's). With Redis down no MCP call is let through — not even with a
 * bearer the cache had a moment ago: once the instance has seen its connection close, the bearer cache
 * serves nothing (its invalidations may be lost) and the session cannot be checked. The request limiter
 * may still admit a client from the lease this instance holds (hits already counted in Redis, see
 * local-admission.ts), so the bearer check is what refuses those; a client it holds no lease for is
 * refused by the limiter itself, which cannot count it. Once Redis is back the endpoint recovers without
 * a restart, and revocations reach other instances' caches again (the pub/sub subscription came back).
 */
let redis: RedisServer;
let stores: Stores;
let t: TestApp;
let b: FastifyInstance;

beforeAll(async () => {
  redis = await redisServer();
  await redis.start();
  stores = await createStores({ now: () => Date.now(), redisUrl: redis.url });
  t = await createTestApp({ stores });
  b = (await t.second()).app;
});
afterAll(async () => {
  await t?.close();
  await stores?.drop();
  await redis?.stop();
});

const ACCEPT = { accept: 'application/json, text/event-stream' };
const whoami = (app: FastifyInstance, token: string) => call(app, {
  method: 'POST', url: '/mcp', token, headers: ACCEPT,
  json: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
});

describe(`/mcp with Redis stopped (${BACKEND} database + own redis-server)`, () => {
  let cached: string;
  let uncached: string;

  it('works while Redis is up', async () => {
    cached = (await register(t.app)).accessToken;
    uncached = (await register(t.app)).accessToken;
    const res = await whoami(t.app, cached);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.result.structuredContent.principal).toBe('user');
  });

  it('with Redis stopped every MCP call is refused with 503, whether its bearer was cached or not', async () => {
    await redis.stop();
    // The instance learns of the crash when its subscriber connection closes, an instant after the server
    // died; a request in between is no different from one that came just before the crash.
    expect(await eventually(async () => stores.kv.subscriptionGeneration() % 2, 0)).toBe(0);
    for (const token of [cached, uncached, cached]) {
      const res = await whoami(t.app, token);
      expect(res.statusCode).toBe(503);
      expect(res.data.error).toBe('unavailable');
    }
    const cold = await call(t.app, { method: 'POST', url: '/mcp', headers: ACCEPT, remoteAddress: '203.0.113.77', json: { jsonrpc: '2.0', id: 1, method: 'ping' } });
    expect(cold.statusCode).toBe(503);
  });

  it('once Redis is back the endpoint answers again without a restart (a bearer whose session the store lost is refused), and revocations reach the other instance', async () => {
    await redis.start();
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 15_000) {
      status = (await whoami(t.app, cached)).statusCode;
      if (status !== 503) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // The restarted store lost the bearer's session, and no cache answers from before the reconnect (issue 26).
    expect(status).toBe(401);
    // Instance B caches a fresh user's bearer; a logout on A must reach B's cache through the re-established pub/sub.
    const u = await register(t.app);
    let warm = 0;
    const warmStart = Date.now();
    while (Date.now() - warmStart < 10_000) {
      warm = (await whoami(b, u.accessToken)).statusCode;
      if (warm === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(warm).toBe(200);
    // Give the subscribers a moment to be re-subscribed after the reconnect.
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken })).statusCode).toBe(200);
    const refusedStart = Date.now();
    let after = 200;
    while (Date.now() - refusedStart < 5_000) {
      after = (await whoami(b, u.accessToken)).statusCode;
      if (after !== 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after).toBe(401);
  });
});
