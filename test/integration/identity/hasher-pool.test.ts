import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { newEmail, raiseLimits, register } from '../../helpers/identity.js';
import { AppError } from '../../../src/http/errors.js';
import { ARGON2_MAX_QUEUE, ARGON2_PARAMS, createPasswordHasher } from '../../../src/modules/password/hasher.js';

// AV-04: argon2id cost cannot exhaust memory or CPU. At most ARGON2_MAX_CONCURRENCY hashes run at once
// (memory ≈ concurrency × 19 MiB), at most ARGON2_MAX_QUEUE wait, the excess fails fast with 503, and
// hashing runs off the event loop.

describe('the argon2id pool', () => {
  it('uses at least OWASP\'s argon2id parameters (m ≥ 19 MiB, t ≥ 2, p = 1)', () => {
    expect(ARGON2_PARAMS.memoryCost).toBeGreaterThanOrEqual(19_456);
    expect(ARGON2_PARAMS.timeCost).toBeGreaterThanOrEqual(2);
    expect(ARGON2_PARAMS.parallelism).toBe(1);
  });

  it('caps concurrency and the queue: 300 simultaneous verifications with concurrency 1 → 1 + 256 run, the rest get 503', async () => {
    const hasher = await createPasswordHasher({ concurrency: 1, params: { memoryCost: 1024, timeCost: 1 } });
    const hash = await hasher.hash('the password');
    let peak = 0;
    // Real verifications (dummies beyond their budget are timed instead: av-04-hash-pool-fairness.test.ts).
    const jobs = Array.from({ length: 300 }, () => hasher.verify(hash, 'guess').then(() => 'ok', (err: unknown) => err));
    peak = Math.max(peak, hasher.stats().running);
    const results = await Promise.all(jobs);
    const refused = results.filter((r) => r instanceof AppError);
    expect(results.filter((r) => r === 'ok')).toHaveLength(1 + ARGON2_MAX_QUEUE);
    expect(refused).toHaveLength(300 - 1 - ARGON2_MAX_QUEUE);
    for (const r of refused) expect((r as AppError).code).toBe('unavailable');
    expect(peak).toBe(1);
    expect(hasher.stats()).toMatchObject({ running: 0, waiting: 0, rejected: 300 - 1 - ARGON2_MAX_QUEUE, verifies: 1 + ARGON2_MAX_QUEUE });
    // drained: the pool serves again
    await expect(hasher.verifyDummy('again')).resolves.toBe(false);
  });

  it('never runs more than `concurrency` jobs at once', async () => {
    const hasher = await createPasswordHasher({ concurrency: 3, params: { memoryCost: 1024, timeCost: 1 } });
    let peak = 0;
    const probe = setInterval(() => { peak = Math.max(peak, hasher.stats().running); }, 0);
    await Promise.all(Array.from({ length: 30 }, () => hasher.hash('password one two')));
    clearInterval(probe);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('hashes off the event loop: timers keep firing while full-cost hashes run', async () => {
    const hasher = await createPasswordHasher({ concurrency: 2 });
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 1);
    const started = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => hasher.hash('correct horse battery staple')));
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // A blocking hash would starve the timer for the whole run; off-loop, it fires through it.
    expect(ticks).toBeGreaterThan(Math.min(10, elapsed / 20));
  });
});

describe('a login flood against ARGON2_MAX_CONCURRENCY=1', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ARGON2_MAX_CONCURRENCY: '1' } });
    await raiseLimits(t);
  });
  afterAll(async () => { await t?.close(); });

  it('300 concurrent logins get 401 or 503, never a crash; the server keeps answering', async () => {
    const known = await register(t.app);
    // Unknown accounts cost one (dummy) verification each, like known ones, and none of them trips the
    // per-account throttle, so every attempt reaches the pool.
    const logins = Array.from({ length: 300 }, (_, i) => call(t.app, {
      method: 'POST', url: '/auth/login',
      json: { email: newEmail('flood'), password: `wrong password ${i}` },
    }));
    const health = await call(t.app, { method: 'GET', url: '/auth/health' });
    const results = await Promise.all(logins);
    expect(health.statusCode).toBe(200);
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    expect([...statuses.keys()].every((s) => s === 401 || s === 503 || s === 429), JSON.stringify([...statuses])).toBe(true);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    for (const r of results.filter((x) => x.statusCode === 503)) expect(r.data.error).toBe('unavailable');
    // Every refusal of the pool is a 503; on a loaded machine a few more 503s can come from the database
    // pool's own wait limit, which is the same answer for the same reason (overload), never a crash.
    const rejected = t.deps.services.hasher.stats().rejected;
    expect(rejected).toBeGreaterThan(0);
    expect(rejected).toBeLessThanOrEqual(statuses.get(503) ?? 0);
    // and afterwards a real login works
    const ok = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: known.email, password: known.password } });
    expect(ok.statusCode, ok.body).toBe(200);
  });
});
