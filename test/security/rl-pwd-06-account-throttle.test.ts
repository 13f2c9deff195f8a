import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';
import { auditRows } from '../integration/rate-limit/helpers.js';

/**
 * PWD-06: failed password attempts are limited per account (RATE_LIMIT_ACCOUNT, 10 per 900 s here,
 * the default), whatever the client address; the lock is counted atomically, ends by itself, resets on
 * success and on a password reset, and never blocks the account's other sign-in methods.
 */
const PROXY = '10.20.30.40';
const PASSWORD = 'correct horse battery staple';
const WINDOW_MS = 900_000;
let t: TestApp;
let n = 0;

beforeAll(async () => {
  // Per-address limits raised (the helper's default) so only the per-account limit is under test.
  t = await createTestApp({ env: { TRUST_PROXY: PROXY, RATE_LIMIT_ACCOUNT: '10/900' } });
});
afterAll(async () => { await t?.close(); });

async function register(): Promise<string> {
  const email = `acct${++n}-${Date.now()}@example.com`;
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  return email;
}

/** A login through the trusted proxy on behalf of client `i` (30 different addresses). */
const login = (email: string, password: string, i = 0) =>
  call(t.app, { method: 'POST', url: '/auth/login', json: { email, password }, remoteAddress: PROXY, headers: { 'x-forwarded-for': `203.0.113.${i % 30}` } });

describe(`per-account sign-in limit (${BACKEND})`, () => {
  let u1: string;
  let retryAfter: number;

  it('wrong passwords spread over 30 addresses: after 10 the account gets 429 with retryAfter', async () => {
    u1 = await register();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const res = await login(u1, 'wrong password number one', i);
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(res.data.error).toBe('rate_limited');
        retryAfter = res.data.retryAfter;
        expect(res.headers['retry-after']).toBe(String(retryAfter));
      }
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(20).fill(429));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual((2 * WINDOW_MS) / 1000);
    // One audit row per lock, not one per refused attempt.
    const rows = await auditRows(t, 'rate_limit.account_throttle');
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows[0])).not.toContain(u1);
  });

  it('the correct password is refused too while the lock holds, from any address', async () => {
    expect((await login(u1, PASSWORD, 3)).statusCode).toBe(429);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u1, password: PASSWORD } })).statusCode).toBe(429);
  });

  it('the lock does not touch the other sign-in methods: a magic link can still be requested', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email: u1 } });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('the lock ends by itself; a success then resets the count', async () => {
    t.clock.advance(retryAfter * 1000);
    const ok = await login(u1, PASSWORD, 7);
    expect(ok.statusCode, ok.body).toBe(200);
    // Reset: the next 10 wrong attempts are answered normally again before the limit applies.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) statuses.push((await login(u1, 'wrong password number two', i)).statusCode);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
  });

  it('a password reset empties the count: the owner signs in with the new password at once', async () => {
    const email = await register();
    for (let i = 0; i < 10; i += 1) expect((await login(email, 'someone else guessing', i)).statusCode).toBe(401);
    expect((await login(email, PASSWORD)).statusCode).toBe(429);

    expect((await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email } })).statusCode).toBe(202);
    await t.deps.services.mailer.drain();
    const token = tokenIn(mailsTo(t.config.dataDir, email).at(-1)!.text);
    const NEW_PASSWORD = 'a much better passphrase 2025';
    const reset = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: NEW_PASSWORD } });
    expect(reset.statusCode, reset.body).toBe(200);

    const ok = await login(email, NEW_PASSWORD, 5);
    expect(ok.statusCode, ok.body).toBe(200);
    // The count starts over rather than being switched off: 10 more wrong attempts, then 429.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) statuses.push((await login(email, 'someone else again', i)).statusCode);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
  });

  it('never becomes permanent: two windows after the last failure the owner signs in', async () => {
    for (let i = 0; i < 50; i += 1) expect((await login(u1, 'attacker keeps trying', i)).statusCode).toBe(429);
    t.clock.advance(2 * WINDOW_MS);
    expect((await login(u1, PASSWORD)).statusCode).toBe(200);
  });

  it('20 parallel wrong attempts are all counted: exactly 10 are checked, 10 refused', async () => {
    const u2 = await register();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login(u2, 'parallel wrong guess', i)));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect((await login(u2, PASSWORD)).statusCode).toBe(429);
  });

  it('an unknown account is limited the same way (the answer does not reveal which accounts exist)', async () => {
    const ghost = `ghost${Date.now()}@example.com`;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) statuses.push((await login(ghost, 'whatever password', i)).statusCode);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
  });

  it('accounts are limited separately, and per tenant', async () => {
    await t.deps.tenants.create({ slug: 'acct-other', name: 'Other' });
    const u3 = await register();
    for (let i = 0; i < 10; i += 1) await login(u3, 'wrong password three', i);
    expect((await login(u3, PASSWORD)).statusCode).toBe(429);
    // Another account is unaffected; the same email in another tenant has its own count.
    expect((await login(await register(), PASSWORD)).statusCode).toBe(200);
    const other = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u3, password: PASSWORD }, headers: { 'x-tenant-id': 'acct-other' } });
    expect(other.statusCode).toBe(401);
  });
});
