import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { newEmail, ownerSql, PASSWORD, register } from '../helpers/identity.js';
import { normalizePassword } from '../../src/modules/password/policy.js';
import { AppError } from '../../src/http/errors.js';
import { createPasswordHasher } from '../../src/modules/password/hasher.js';

/**
 * AV-04, issue 25: the argon2id pool is shared fairly. Work for unknown accounts (dummy verifications)
 * has its own small budget, so a flood of unknown-email logins from a botnet cannot starve a known
 * account's login; one client address holds at most ARGON2_QUEUE_PER_CLIENT jobs; a 503 from the pool
 * counts towards the account's RATE_LIMIT_ACCOUNT like a failure; the pool reports its queue wait.
 */
const PROXY = '10.9.8.7';
const CHEAP = { memoryCost: 1024, timeCost: 1 };
const PER_CLIENT = 8;
const DUMMY_QUEUE = 4;

describe('the pool (unit)', () => {
  it('a real verification is served while dummy verifications from many clients saturate their budget; dummies beyond it answer false, not 503', async () => {
    const hasher = await createPasswordHasher({ concurrency: 1, dummyQueue: DUMMY_QUEUE, perClient: PER_CLIENT, params: CHEAP });
    const hash = await hasher.hash('the right password');
    const dummies = Array.from({ length: 300 }, (_, i) => hasher.verifyDummy(`guess ${i}`, { client: `198.18.0.${i % 250}` }).then((v) => v, (e: unknown) => e));
    const s = hasher.stats();
    expect(s.waiting).toBeLessThanOrEqual(DUMMY_QUEUE);
    expect(s.waitingDummies).toBe(DUMMY_QUEUE);
    const real = hasher.verify(hash, 'the right password', { client: '198.51.100.1' });
    // Only the dummies ahead of it in the queue (the budget) stand between it and a slot.
    expect(hasher.stats().waiting).toBe(DUMMY_QUEUE + 1);
    await expect(real).resolves.toBe(true);
    const results = await Promise.all(dummies);
    expect(results.every((r) => r === false), String(results.find((r) => r !== false))).toBe(true);
    const after = hasher.stats();
    expect(after.rejected).toBe(0);
    expect(after.dummyVerifies + after.timedDummies).toBe(300);
    expect(after.dummyVerifies).toBeLessThanOrEqual(1 + DUMMY_QUEUE + 1);
    expect(after).toMatchObject({ running: 0, waiting: 0, waitingDummies: 0, held: 0 });
  });

  it('one client address holds at most its share; the rest get 503 at once, other addresses still get in', async () => {
    const hasher = await createPasswordHasher({ concurrency: 1, dummyQueue: DUMMY_QUEUE, perClient: PER_CLIENT, params: CHEAP });
    const hash = await hasher.hash('pw');
    const mine = Array.from({ length: 30 }, () => hasher.verify(hash, 'wrong', { client: '203.0.113.5' }).then(() => 'ok', (e: unknown) => e));
    const other = hasher.verify(hash, 'pw', { client: '203.0.113.6' });
    const results = await Promise.all(mine);
    expect(results.filter((r) => r === 'ok')).toHaveLength(PER_CLIENT);
    const refused = results.filter((r) => r instanceof AppError) as AppError[];
    expect(refused).toHaveLength(30 - PER_CLIENT);
    for (const r of refused) expect(r.code).toBe('unavailable');
    await expect(other).resolves.toBe(true);
    // Dummies and timed dummies count towards the share too.
    const dummies = Array.from({ length: 30 }, () => hasher.verifyDummy('x', { client: '203.0.113.7' }).then(() => 'ok', (e: unknown) => e));
    expect((await Promise.all(dummies)).filter((r) => r === 'ok')).toHaveLength(PER_CLIENT);
    // The share is freed as jobs end.
    await expect(hasher.verify(hash, 'pw', { client: '203.0.113.5' })).resolves.toBe(true);
  });

  it('reports its queue wait: how many jobs started, and the recent p50 / p99 wait', async () => {
    const hasher = await createPasswordHasher({ concurrency: 1, params: CHEAP });
    const before = hasher.stats();
    await Promise.all(Array.from({ length: 6 }, () => hasher.hash('a password')));
    const s = hasher.stats();
    expect(s.started - before.started).toBe(6);
    // Five of the six waited behind at least one whole hash.
    expect(s.waitP99Ms).toBeGreaterThan(0);
    expect(s.waitP99Ms).toBeGreaterThanOrEqual(s.waitP50Ms);
    expect(s.waitP50Ms).toBeGreaterThanOrEqual(0);
  });
});

describe(`logins under a flood (${BACKEND}, ARGON2_MAX_CONCURRENCY=1)`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ARGON2_MAX_CONCURRENCY: '1', TRUST_PROXY: PROXY, RATE_LIMIT_ACCOUNT: '3/900' } });
  });
  afterAll(async () => { await t?.close(); });

  const login = (email: string, password: string, ip: string) =>
    call(t.app, { method: 'POST', url: '/auth/login', json: { email, password }, remoteAddress: PROXY, headers: { 'x-forwarded-for': ip } });
  const until = async (what: string, ok: () => boolean, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(t.deps.services.hasher.stats())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('a known account signs in while 100 unknown-email logins from 100 addresses saturate the dummy budget; every flood login gets the usual 401', async () => {
    const known = await register(t.app);
    const hasher = t.deps.services.hasher;
    const before = hasher.stats() as ReturnType<typeof hasher.stats> & { timedDummies?: number };
    const flood = Array.from({ length: 100 }, (_, i) => login(newEmail('flood'), `wrong password ${i}`, `198.18.1.${i}`));
    // Wait until the pool turns dummies away (timed instead of run), or (before the fix, without a dummy
    // budget) until half the flood waits in the queue.
    await until('the dummy budget to fill', () => {
      const s = hasher.stats() as typeof before;
      return (s.timedDummies ?? 0) > (before.timedDummies ?? 0) || s.waiting >= 50;
    });
    // The known login waits only for the dummies already in the budget and the one running, not for the
    // whole flood (before the fix it queued behind 256 of them, or got 503 while the flood lasted).
    const ranBefore = hasher.stats().dummyVerifies;
    const res = await login(known.email, known.password, '198.51.100.20');
    expect(res.statusCode, res.body).toBe(200);
    // (+ 2: the login's own database steps before it reaches the pool may see a couple more start)
    expect(hasher.stats().dummyVerifies - ranBefore).toBeLessThanOrEqual(DUMMY_QUEUE + 1 + 2);
    const results = await Promise.all(flood);
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    // Unknown emails still look like wrong passwords, run or timed.
    expect([...statuses]).toEqual([[401, 100]]);
    for (const r of results) expect(r.data.error).toBe('invalid_credentials');
  });

  it('one address cannot take the queue: 30 logins at once from it, at most its share reach the pool, the rest get 503; another address is served', async () => {
    // 31 accounts seeded with one real hash (registering them would cost 31 hashes).
    const tenant = await t.deps.tenants.defaultTenant();
    const hash = await t.deps.services.hasher.hash(normalizePassword(PASSWORD));
    const accounts = Array.from({ length: 31 }, () => newEmail('share'));
    for (const email of accounts) {
      await ownerSql(t, 'INSERT INTO users (tenant_id, email, password_hash, email_verified) VALUES ($1, $2, $3, true)', [tenant.id, email, hash]);
    }
    const burst = accounts.slice(0, 30).map((email) => login(email, 'not the password at all', '203.0.113.50'));
    const other = login(accounts[30]!, PASSWORD, '203.0.113.51');
    const results = await Promise.all(burst);
    const refused = results.filter((r) => r.statusCode === 503);
    expect(results.every((r) => r.statusCode === 401 || r.statusCode === 503), results.map((r) => r.statusCode).join()).toBe(true);
    // A job of the address can end (and free its place) while the burst is still arriving: a few more may pass.
    expect(refused.length).toBeGreaterThanOrEqual(30 - PER_CLIENT - 4);
    for (const r of refused) expect(r.data.error).toBe('unavailable');
    expect((await other).statusCode).toBe(200);
  });

  it('a 503 from a full pool counts towards the account\'s RATE_LIMIT_ACCOUNT like a failure, the right password included', async () => {
    const victim = await register(t.app);
    const control = await register(t.app);
    const hasher = t.deps.services.hasher;
    const hash = await hasher.hash('filler');
    // Jobs without a client address keep the single slot busy; behind them, the address's share is filled.
    const filler = Array.from({ length: 12 }, () => hasher.verify(hash, 'filler'));
    const share = Array.from({ length: PER_CLIENT }, () => hasher.verify(hash, 'filler', { client: '192.0.2.77' }).catch(() => false));
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await login(victim.email, victim.password, '192.0.2.77')).statusCode);
    expect(statuses).toEqual([503, 503, 503]);
    await Promise.all([...filler, ...share]);
    // Three counted attempts (RATE_LIMIT_ACCOUNT 3/900): the account is throttled, the right password too.
    const locked = await login(victim.email, victim.password, '192.0.2.78');
    expect(locked.statusCode, locked.body).toBe(429);
    expect(locked.data.error).toBe('rate_limited');
    expect((await login(control.email, control.password, '192.0.2.78')).statusCode).toBe(200);
  });
});
