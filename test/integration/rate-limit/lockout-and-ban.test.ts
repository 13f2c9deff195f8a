import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { banStore } from '../../../src/modules/rate-limit/ban-store.js';
import { adminToken, auditRows, freshIp, loginAttempt, loginAttempts } from './helpers.js';

/** RL-03: 10 violations → 15-minute lockout; the third lockout in 24 h → a permanent ban in Postgres. */
let stores: Stores;
let t: TestApp;
let admin: string;
const LOCKOUT_MS = 15 * 60_000;

beforeAll(async () => {
  // Own stores, so the app can be closed and a new one started on the same database (a restart).
  stores = await createStores({ now: () => Date.now() });
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS, stores });
  admin = await adminToken(t);
});
afterAll(async () => {
  await t?.close();
  await stores?.drop();
});

/** From an empty window: 20 admitted, then 10 refused (10 violations). Returns the last refusal. */
async function causeLockout(ip: string) {
  expect(await loginAttempts(t.app, ip, 20)).toEqual(Array(20).fill(400));
  for (let i = 0; i < 9; i += 1) expect((await loginAttempt(t.app, ip)).statusCode).toBe(429);
  return loginAttempt(t.app, ip);
}

describe(`lockout and ban (${BACKEND})`, () => {
  const ip = freshIp();
  let banId: string;

  it('the 10th violation locks the address out of credential routes for 15 minutes, even under the rate', async () => {
    const tenth = await causeLockout(ip);
    expect(tenth.statusCode).toBe(429);
    expect(tenth.data.retryAfter).toBeGreaterThanOrEqual(895);
    expect(tenth.data.retryAfter).toBeLessThanOrEqual(900);
    // Two minutes later the window is empty again, but the lockout holds.
    t.clock.advance(120_000);
    const under = await loginAttempt(t.app, ip);
    expect(under.statusCode).toBe(429);
    expect(under.data.retryAfter).toBeGreaterThanOrEqual(775);
    expect(under.data.retryAfter).toBeLessThanOrEqual(780);
    expect(under.headers['retry-after']).toBe(String(under.data.retryAfter));
    expect(under.headers['ratelimit-remaining']).toBe('0');
    // Every credential route, not just the one that was abused…
    expect((await call(t.app, { method: 'POST', url: '/auth/register', json: {}, remoteAddress: ip })).statusCode).toBe(429);
    // …but not the other routes, and not other addresses.
    expect((await call(t.app, { method: 'GET', url: '/auth/user', remoteAddress: ip })).statusCode).toBe(401);
    expect((await loginAttempt(t.app, freshIp())).statusCode).toBe(400);
    const rows = (await auditRows(t, 'rate_limit.lockout')).filter((r) => r.target === ip);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.outcome).toBe('denied');
    expect(rows[0]!.ip).toBe(ip);
  });

  it('the lockout ends by itself after 15 minutes', async () => {
    t.clock.advance(LOCKOUT_MS);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);
  });

  it('the third lockout within 24 h bans the address: 403 banned everywhere but /auth/health', async () => {
    t.clock.advance(LOCKOUT_MS);
    expect((await causeLockout(ip)).data.retryAfter).toBeGreaterThan(890);
    expect(await auditRows(t, 'rate_limit.ban')).toHaveLength(0);
    t.clock.advance(LOCKOUT_MS + 1000);
    await causeLockout(ip);

    const login = await loginAttempt(t.app, ip);
    expect(login.statusCode).toBe(403);
    expect(login.data.error).toBe('banned');
    for (const [method, url] of [['GET', '/auth/user'], ['GET', '/auth/discovery'], ['GET', '/auth/ready'], ['GET', '/nothing-here'], ['GET', '/auth/admin/bans']] as const) {
      const res = await call(t.app, { method, url, remoteAddress: ip, token: url.includes('admin') ? admin : undefined });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.data.error).toBe('banned');
    }
    expect((await call(t.app, { method: 'GET', url: '/auth/health', remoteAddress: ip })).statusCode).toBe(200);
    // Other addresses are unaffected.
    expect((await loginAttempt(t.app, freshIp())).statusCode).toBe(400);

    const bans = await auditRows(t, 'rate_limit.ban');
    expect(bans).toHaveLength(1);
    expect(bans[0]!.target).toBe(ip);
    expect((bans[0]!.metadata as { lockouts: number }).lockouts).toBe(3);
    const rows = await stores.sql.tx(null, (tx) => tx.query<{ id: string; ip: string; lifted_at: Date | null }>('SELECT id, ip, lifted_at FROM bans'));
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]).toMatchObject({ ip, lifted_at: null });
    banId = rows.rows[0]!.id;
  });

  it('the ban is a Postgres row: it survives a restart', async () => {
    const now = t.clock.nowMs();
    await t.app.close();
    await t.deps.close();
    t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS, stores });
    t.clock.set(now);
    const res = await loginAttempt(t.app, ip);
    expect(res.statusCode).toBe(403);
    expect(res.data.error).toBe('banned');
  });

  it('an admin lists the ban and lifts it; traffic flows again; both are audited', async () => {
    const list = await call(t.app, { method: 'GET', url: '/auth/admin/bans', token: admin });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.data).toMatchObject({ total: 1, limit: 50, offset: 0 });
    expect(list.data.items[0]).toMatchObject({ id: banId, ip, reason: 'repeated_lockouts', lockouts: 3, liftedAt: null, liftedBy: null });

    const lift = await call(t.app, { method: 'DELETE', url: `/auth/admin/bans/${banId}`, token: admin });
    expect(lift.statusCode, lift.body).toBe(200);
    expect(lift.data.liftedAt).not.toBeNull();
    expect((await call(t.app, { method: 'DELETE', url: `/auth/admin/bans/${banId}`, token: admin })).statusCode).toBe(404);

    // The lift also cleared the lockout (it had 13 more minutes to run) and the lockout history:
    // once the route's window has emptied, requests flow, and one more abuse is a lockout, not a ban.
    t.clock.advance(120_000);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);
    t.clock.advance(120_000);
    await causeLockout(ip);
    t.clock.advance(LOCKOUT_MS + 1000);
    expect((await loginAttempt(t.app, ip)).statusCode).toBe(400);

    const lifts = await auditRows(t, 'rate_limit.ban_lift');
    expect(lifts).toHaveLength(1);
    expect(lifts[0]).toMatchObject({ target: ip, outcome: 'success', actor_type: 'admin_key' });
    const active = await call(t.app, { method: 'GET', url: '/auth/admin/bans', token: admin });
    expect(active.data.total).toBe(0);
    const all = await call(t.app, { method: 'GET', url: '/auth/admin/bans?status=lifted', token: admin });
    expect(all.data.items.map((b: { id: string }) => b.id)).toEqual([banId]);
  });

  it('DELETE /auth/admin/bans?ip= lifts by address in any spelling (IPv6 bans cover the /64)', async () => {
    await stores.sql.tx(null, (tx) => banStore.insert(tx, { ip: '2001:db8:0:0::/64', reason: 'manual_test', lockouts: 3, now: new Date() }));
    await t.deps.services.rateLimit.resync();
    const banned = await call(t.app, { method: 'GET', url: '/auth/health', remoteAddress: '2001:db8::77' });
    expect(banned.statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', remoteAddress: '2001:db8::77' })).statusCode).toBe(403);
    const lift = await call(t.app, { method: 'DELETE', url: '/auth/admin/bans?ip=2001:DB8:0::5', token: admin });
    expect(lift.statusCode, lift.body).toBe(200);
    expect(lift.data.ip).toBe('2001:db8:0:0::/64');
    expect((await call(t.app, { method: 'GET', url: '/auth/user', remoteAddress: '2001:db8::77' })).statusCode).toBe(401);
  });

  it('refuses bad input and other credentials on the admin routes, changing nothing', async () => {
    const count = async () => Number((await stores.sql.tx(null, (tx) => tx.query<{ n: string }>('SELECT count(*) AS n FROM bans WHERE lifted_at IS NULL'))).rows[0]!.n);
    await stores.sql.tx(null, (tx) => banStore.insert(tx, { ip: '203.0.113.9', reason: 'manual_test', lockouts: 3, now: new Date() }));
    const before = await count();
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans/not-a-uuid', token: admin })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans?ip=x;DROP', token: admin })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans', token: admin })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'GET', url: '/auth/admin/bans?status=bogus', token: admin })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'GET', url: '/auth/admin/bans?limit=0', token: admin })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans/00000000-0000-4000-8000-000000000000', token: admin })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans?ip=203.0.113.9' })).statusCode).toBe(401);
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `u${Date.now()}@example.com`, password: 'correct horse battery staple' }, remoteAddress: freshIp() });
    expect(reg.statusCode, reg.body).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/admin/bans', token: reg.data.tokens.accessToken })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/admin/bans?ip=203.0.113.9', token: reg.data.tokens.accessToken })).statusCode).toBe(403);
    expect(await count()).toBe(before);
  });
});
