import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { adminToken, freshIp, loginAttempt, loginAttempts } from './helpers.js';

/** RL-02: one atomic limit shared by every instance; lockouts and bans reach every instance. */
let t: TestApp;
let a: FastifyInstance;
let b: FastifyInstance;
beforeAll(async () => {
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS });
  a = t.app;
  b = (await t.second()).app;
});
afterAll(async () => { await t?.close(); });

/** Polls until `fn` holds (pub/sub delivery is asynchronous), failing after ~3 s. */
async function eventually(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 60; i += 1) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}

describe(`limits shared by two instances (${BACKEND})`, () => {
  it('50 concurrent logins from one address over two instances: exactly 20 admitted', async () => {
    const ip = freshIp();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => loginAttempt(i % 2 ? a : b, ip)));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s !== 429)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });

  it('30 sequential requests alternating between instances: the 21st overall is refused', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await loginAttempt(i % 2 ? b : a, ip)).statusCode);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses[20]).toBe(429);
  });

  it('a lockout caused on one instance holds on the other', async () => {
    const ip = freshIp();
    await loginAttempts(a, ip, 30);
    t.clock.advance(120_000);
    // The window is empty again; only the lockout refuses.
    await eventually(async () => (await loginAttempt(b, ip)).statusCode === 429);
    const res = await loginAttempt(b, ip);
    expect(res.data.retryAfter).toBeGreaterThan(700);
  });

  it('a ban made on one instance holds on the other, and a lift on the other reaches the first', async () => {
    const ip = freshIp();
    for (let cycle = 0; cycle < 3; cycle += 1) {
      await loginAttempts(a, ip, 30);
      t.clock.advance(15 * 60_000 + 1000);
    }
    await eventually(async () => (await call(b, { method: 'GET', url: '/auth/user', remoteAddress: ip })).statusCode === 403);
    const admin = await adminToken(t);
    const lift = await call(b, { method: 'DELETE', url: `/auth/admin/bans?ip=${ip}`, token: admin });
    expect(lift.statusCode, lift.body).toBe(200);
    await eventually(async () => (await call(a, { method: 'GET', url: '/auth/user', remoteAddress: ip })).statusCode === 401);
  });
});
