import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { freshIp, limiterProbeModule, loginAttempt, loginAttempts } from './helpers.js';

/** RL-01: 20 requests per 60 s per client address and route, a sliding window, RateLimit-* headers. */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS, extraModules: [limiterProbeModule()] });
});
afterAll(async () => { await t?.close(); });

/** Puts the manual clock at `second` seconds past wall-clock minute `minute` (where a fixed window would reset). */
const atSecondOfMinute = (minute: number, second: number): void => t.clock.set(minute + second * 1000);

describe(`sliding-window limits (${BACKEND})`, () => {
  it('the 21st login within 10 s gets 429 rate_limited with Retry-After, RateLimit-* headers and retryAfter', async () => {
    const ip = freshIp();
    for (let i = 1; i <= 20; i += 1) {
      t.clock.advance(400);
      const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: `nobody${i}@example.com`, password: 'wrong password here' }, remoteAddress: ip });
      expect(res.statusCode, res.body).toBe(401);
      expect(res.headers['ratelimit-limit']).toBe('20');
      expect(res.headers['ratelimit-remaining']).toBe(String(20 - i));
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
    }
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: 'nobody21@example.com', password: 'wrong password here' }, remoteAddress: ip });
    expect(res.statusCode).toBe(429);
    expect(res.data.error).toBe('rate_limited');
    expect(res.data.requestId).toBe(res.headers['x-request-id']);
    expect(res.data.retryAfter).toBeGreaterThanOrEqual(1);
    expect(res.headers['retry-after']).toBe(String(res.data.retryAfter));
    expect(res.headers['ratelimit-limit']).toBe('20');
    expect(res.headers['ratelimit-remaining']).toBe('0');
    expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(res.data.retryAfter);
  });

  it('a refused request is not counted and the window slides: room returns after Retry-After, fully after two windows', async () => {
    const ip = freshIp();
    expect(await loginAttempts(t.app, ip, 20)).toEqual(Array(20).fill(400));
    const refused = await loginAttempt(t.app, ip);
    expect(refused.statusCode).toBe(429);
    t.clock.advance(refused.data.retryAfter * 1000);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);
    t.clock.advance(120_000);
    expect(await loginAttempts(t.app, ip, 20)).toEqual(Array(20).fill(400));
  });

  it('at a minute boundary the window does not reset: 20 at 50–59 s, then 20 at 61–65 s are mostly refused', async () => {
    const ip = freshIp();
    const minute = Math.ceil(t.clock.nowMs() / 60_000) * 60_000 + 60_000;
    atSecondOfMinute(minute, 50);
    for (let i = 0; i < 20; i += 1) {
      expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);
      t.clock.advance(450);
    }
    atSecondOfMinute(minute, 61);
    let admitted = 0;
    for (let i = 0; i < 20; i += 1) {
      if ((await loginAttempt(t.app, ip)).statusCode === 400) admitted += 1;
      t.clock.advance(200);
    }
    // A fixed window would admit all 20; the sliding estimate still counts ~19 of the earlier 20.
    expect(admitted).toBeLessThanOrEqual(2);
  });

  it('requests spread over time under the rate are all admitted (17 per minute for 5 minutes)', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 85; i += 1) {
      statuses.push((await loginAttempt(t.app, ip)).statusCode);
      t.clock.advance(Math.round(60_000 / 17));
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(0);
  });

  it('a steady 30 per minute is held to about 20 per minute', async () => {
    // On a default-class route (no lockout), with the tenant's default limit set to 20/60.
    await t.deps.tenants.create({ slug: 'rl-steady', name: 'Steady', settings: { rateLimits: { default: { limit: 20, windowSeconds: 60 } } } });
    const ip = freshIp();
    let admitted = 0;
    for (let i = 0; i < 150; i += 1) {
      const res = await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-tenant-id': 'rl-steady' }, remoteAddress: ip });
      if (res.statusCode === 401) admitted += 1;
      t.clock.advance(2_000);
    }
    // 5 minutes: at most 20 in each aligned minute (the estimate never admits more), and no starvation.
    expect(admitted).toBeLessThanOrEqual(6 * 20);
    expect(admitted).toBeGreaterThanOrEqual(4 * 20);
  });

  it('buckets are per client address and per route', async () => {
    const ip = freshIp();
    await loginAttempts(t.app, ip, 20);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(429);
    expect((await loginAttempt(t.app, freshIp())).statusCode).toBe(400);
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: {}, remoteAddress: ip });
    expect(reg.statusCode).toBe(400);
    expect(reg.headers['ratelimit-remaining']).toBe('19');
  });

  it('GET /auth/health is never limited and carries no RateLimit headers', async () => {
    const ip = freshIp();
    for (let i = 0; i < 100; i += 1) {
      const res = await call(t.app, { method: 'GET', url: '/auth/health', remoteAddress: ip });
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });

  it('routes without a declared class get the default limit (600/60) with headers', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/user', remoteAddress: freshIp() });
    expect(res.statusCode).toBe(401);
    expect(res.headers['ratelimit-limit']).toBe('600');
    expect(res.headers['ratelimit-remaining']).toBe('599');
  });

  it('a tenant overrides its limits in settings.rateLimits, in its own buckets', async () => {
    await t.deps.tenants.create({ slug: 'rl-strict', name: 'Strict', settings: { rateLimits: { credential: { limit: 5, windowSeconds: 60 }, default: { limit: 3, windowSeconds: 60 } } } });
    const ip = freshIp();
    const headers = { 'x-tenant-id': 'rl-strict' };
    for (let i = 0; i < 5; i += 1) expect((await loginAttempt(t.app, ip, { headers })).statusCode).toBe(400);
    const refused = await loginAttempt(t.app, ip, { headers });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['ratelimit-limit']).toBe('5');
    // The default tenant's bucket for the same address and route is separate.
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await call(t.app, { method: 'GET', url: '/auth/user', headers, remoteAddress: ip })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('HEAD shares the bucket of its GET route', async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i += 1) {
      expect((await call(t.app, { method: 'GET', url: '/auth/probe/credential-get', remoteAddress: ip })).statusCode).toBe(200);
      expect((await call(t.app, { method: 'HEAD', url: '/auth/probe/credential-get', remoteAddress: ip })).statusCode).toBe(200);
    }
    expect((await call(t.app, { method: 'GET', url: '/auth/probe/credential-get', remoteAddress: ip })).statusCode).toBe(429);
    expect((await call(t.app, { method: 'HEAD', url: '/auth/probe/credential-get', remoteAddress: ip })).statusCode).toBe(429);
  });

  it('an OPTIONS request neither counts against nor resets the login bucket', async () => {
    const ip = freshIp();
    await loginAttempts(t.app, ip, 20);
    const opt = await call(t.app, { method: 'OPTIONS', url: '/auth/login', remoteAddress: ip, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect([204, 404]).toContain(opt.statusCode);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(429);
  });
});
