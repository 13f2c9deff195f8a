import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../../src/deps.js';
import type { ModuleDef } from '../../../src/modules/module.js';
import { call, createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { freshIp } from './helpers.js';
import { redisServer, type RedisServer } from '../../helpers/redis-server.js';

/**
 * AV-01 / AV-02: with Redis stopped, limited routes answer 503 unavailable (never run unlimited), an
 * idempotent POST with a key does not run, /health stays 200; once Redis is back, service recovers by
 * itself. On both backends the key–value store here is a redis-server this test starts and kills on a
 * spare port (the in-process store cannot be stopped); the database is the backend's.
 */
let redis: RedisServer;
let stores: Stores;
let t: TestApp;
let idempotentRuns = 0;

/** A public idempotent route (the guard needs no session, so only the idempotency store is in play). */
function probe(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    app.withTypeProvider<ZodTypeProvider>().post('/probe/outage-create', {
      config: { auth: 'public', rateLimit: 'none', idempotent: true },
      schema: { operationId: 'probeOutageCreate', body: z.object({ name: z.string() }).strict(), response: { 201: z.object({ n: z.number() }) } },
    }, async (_req, reply) => reply.code(201).send({ n: ++idempotentRuns }));
  };
  return { name: 'outage-probe', plugin };
}

beforeAll(async () => {
  redis = await redisServer();
  await redis.start();
  stores = await createStores({ now: () => Date.now(), redisUrl: redis.url });
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS, stores, extraModules: [probe()] });
});
afterAll(async () => {
  await t?.close();
  await stores?.drop();
  await redis?.stop();
});

const PASSWORD = 'correct horse battery staple';
const email = `outage${Date.now()}@example.com`;
const login = (ip: string, password = PASSWORD) => call(t.app, { method: 'POST', url: '/auth/login', json: { email, password }, remoteAddress: ip });

describe(`Redis down: fail closed, recover by itself (${BACKEND} database + own redis-server)`, () => {
  let token: string;

  it('works while Redis is up', async () => {
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(reg.statusCode, reg.body).toBe(200);
    token = reg.data.tokens.accessToken;
    expect((await login(freshIp())).statusCode).toBe(200);
  });

  it('with Redis stopped, credential routes answer 503 and never run unlimited', async () => {
    await redis.stop();
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await login(ip)).statusCode);
    expect(statuses).toEqual(Array(30).fill(503));
    const res = await login(ip, 'a wrong password');
    expect(res.data.error).toBe('unavailable');
    expect(res.headers['ratelimit-limit']).toBeUndefined();
    for (const [url, json] of [['/auth/register', { email: `x${email}`, password: PASSWORD }], ['/auth/refresh', { refreshToken: 'x' }]] as const) {
      expect((await call(t.app, { method: 'POST', url, json, remoteAddress: ip })).statusCode, url).toBe(503);
    }
    // A token whose session cannot be checked is not accepted.
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token })).statusCode).toBe(503);
  });

  it('an idempotent POST with a key answers 503 and does not run', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/outage-create', json: { name: 'a' }, headers: { 'idempotency-key': 'outage-1' } });
    expect(res.statusCode).toBe(503);
    expect(idempotentRuns).toBe(0);
  });

  it('/health answers 200 and /ready 503', async () => {
    expect((await call(t.app, { method: 'GET', url: '/auth/health' })).statusCode).toBe(200);
    const ready = await call(t.app, { method: 'GET', url: '/auth/ready' });
    expect(ready.statusCode).toBe(503);
  });

  it('once Redis is back the limits work again within seconds, without a restart', async () => {
    await redis.start();
    const ip = freshIp();
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 15_000) {
      status = (await login(ip)).statusCode;
      if (status !== 503) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The limiter counts again: 20 per minute from one address (one was used above).
    const statuses: number[] = [];
    for (let i = 0; i < 20; i += 1) statuses.push((await call(t.app, { method: 'POST', url: '/auth/login', json: {}, remoteAddress: ip })).statusCode);
    expect(statuses.slice(0, 19)).toEqual(Array(19).fill(400));
    expect(statuses[19]).toBe(429);
    const created = await call(t.app, { method: 'POST', url: '/auth/probe/outage-create', json: { name: 'a' }, headers: { 'idempotency-key': 'outage-1' } });
    expect(created.statusCode).toBe(201);
    expect(idempotentRuns).toBe(1);
  });
});
