import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { getUser, login, parts, raiseLimits, refresh, register, setCookies, type SignedIn } from '../helpers/identity.js';
import { enableMfa, freshSessionWithoutStepUp, nextCode } from '../integration/mfa/mfa-helpers.js';

// SES-01 (every authentication creates a new session), SES-02 (users see and end only their own
// sessions, including the TOTP gate on DELETE /auth/sessions), SES-04 (cookie attributes).

let t: TestApp;
let u1: SignedIn;
let u2: SignedIn;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  u1 = await register(t.app);
  u2 = await register(t.app);
});
afterAll(async () => { await t?.close(); });

const cookieNamed = (cookies: string[], name: string) => cookies.find((c) => c.startsWith(`${name}=`));
const cookieValue = (c: string) => c.split(';')[0]!.split('=').slice(1).join('=');

describe('SES-01 every authentication creates a new session', () => {
  it('two logins of one user: sid, jti, refresh token and cookie values all differ, and both sessions live', async () => {
    const a = await login(t.app, { email: u1.email });
    const b = await login(t.app, { email: u1.email });
    const pa = parts(a.accessToken).payload;
    const pb = parts(b.accessToken).payload;
    expect(pa.sid).not.toBe(pb.sid);
    expect(pa.jti).not.toBe(pb.jti);
    expect(a.refreshToken).not.toBe(b.refreshToken);
    for (const name of ['__Host-ap_access', '__Secure-ap_refresh']) {
      expect(cookieValue(cookieNamed(a.cookies, name)!)).not.toBe(cookieValue(cookieNamed(b.cookies, name)!));
    }
    expect((await getUser(t.app, a.accessToken)).statusCode).toBe(200);
    expect((await getUser(t.app, b.accessToken)).statusCode).toBe(200);
  });

  it('signing in while presenting an existing session still makes a new one (no fixation)', async () => {
    const a = await login(t.app, { email: u1.email });
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u1.email, password: u1.password }, token: a.accessToken, headers: { cookie: `__Host-ap_access=${a.accessToken}` } });
    expect(res.statusCode).toBe(200);
    expect(parts(res.data.tokens.accessToken).payload.sid).not.toBe(parts(a.accessToken).payload.sid);
  });

  it('1,000 sign-ins: no jti, sid or refresh token repeats', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const jtis = new Set<string>();
    const sids = new Set<string>();
    const rts = new Set<string>();
    const ctx = { ip: '127.0.0.1', userAgent: 'test', requestId: 'ses-01' };
    for (let batch = 0; batch < 20; batch++) {
      const issued = await Promise.all(Array.from({ length: 50 }, () => t.deps.services.sessions.start(tenant, u2.userId, { amr: ['pwd'], method: 'password', ctx, sessionEpoch: 0 })));
      for (const i of issued) {
        const p = parts(i.accessToken).payload;
        jtis.add(p.jti);
        sids.add(p.sid);
        rts.add(i.refreshToken);
      }
    }
    expect(jtis.size).toBe(1000);
    expect(sids.size).toBe(1000);
    expect(rts.size).toBe(1000);
  });
});

describe('SES-02 users see and end only their own sessions', () => {
  it('GET /auth/sessions lists only the caller\'s sessions, marks the current one, and carries no token material', async () => {
    const mine = await login(t.app, { email: u1.email });
    const theirs = await login(t.app, { email: u2.email });
    const res = await call(t.app, { method: 'GET', url: '/auth/sessions', token: mine.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    const ids = res.data.items.map((s: { id: string }) => s.id);
    expect(ids).toContain(parts(mine.accessToken).payload.sid);
    expect(ids).not.toContain(parts(theirs.accessToken).payload.sid);
    expect(res.data.total).toBe(res.data.items.length);
    const current = res.data.items.filter((s: { current: boolean }) => s.current);
    expect(current).toHaveLength(1);
    expect(current[0].id).toBe(parts(mine.accessToken).payload.sid);
    expect(Object.keys(res.data.items[0]).sort()).toEqual(['amr', 'createdAt', 'current', 'expiresAt', 'id', 'ip', 'method', 'userAgent']);
    expect(res.body).not.toContain(mine.refreshToken.split('.')[1]);
    expect(res.body).not.toContain(mine.refreshToken.split('.')[0]);
    expect(res.body).not.toContain(mine.accessToken);
  });

  it('DELETE /auth/sessions/{sid of another user} → 404, and that session lives on', async () => {
    const mine = await login(t.app, { email: u1.email });
    const theirs = await login(t.app, { email: u2.email });
    const res = await call(t.app, { method: 'DELETE', url: `/auth/sessions/${parts(theirs.accessToken).payload.sid}`, token: mine.accessToken });
    expect(res.statusCode).toBe(404);
    expect(res.data.error).toBe('not_found');
    expect((await getUser(t.app, theirs.accessToken)).statusCode).toBe(200);
    expect((await refresh(t.app, theirs.refreshToken)).statusCode).toBe(200);
  });

  it('DELETE /auth/sessions/{id}: unknown uuid → 404, not a uuid → 400', async () => {
    const mine = await login(t.app, { email: u1.email });
    expect((await call(t.app, { method: 'DELETE', url: '/auth/sessions/00000000-0000-4000-8000-000000000000', token: mine.accessToken })).statusCode).toBe(404);
    const bad = await call(t.app, { method: 'DELETE', url: '/auth/sessions/not-a-uuid', token: mine.accessToken });
    expect(bad.statusCode).toBe(400);
    expect(bad.data.error).toBe('validation_failed');
  });

  it('DELETE /auth/sessions ends every session of the caller (user without MFA) and none of another user', async () => {
    const a = await login(t.app, { email: u1.email });
    const b = await login(t.app, { email: u1.email });
    const other = await login(t.app, { email: u2.email });
    const res = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: a.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    for (const s of [a, b]) {
      expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
      expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
    }
    expect((await getUser(t.app, other.accessToken)).statusCode).toBe(200);
  });

  it('steps 3–4: with MFA and no recent step-up DELETE /auth/sessions → 401 totp_required; after the challenge every token of the user is dead', async () => {
    const u = await register(t.app);
    const { secret } = await enableMfa(t, u.accessToken);
    const a = await freshSessionWithoutStepUp(t, u.email, secret);
    const b = await freshSessionWithoutStepUp(t, u.email, secret);
    const gated = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: a.accessToken });
    expect(gated.statusCode, gated.body).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    expect(gated.data.challenge).toMatch(/^ch_/);
    expect((await getUser(t.app, b.accessToken)).statusCode).toBe(200);
    const done = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: a.accessToken, json: { challenge: gated.data.challenge, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const res = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: a.accessToken, headers: { 'x-totp-challenge': gated.data.challenge } });
    expect(res.statusCode, res.body).toBe(200);
    for (const x of [a, b]) {
      expect((await getUser(t.app, x.accessToken)).statusCode).toBe(401);
      expect((await refresh(t.app, x.refreshToken)).statusCode).toBe(401);
    }
  });
});

describe('SES-04 cookie attributes', () => {
  it('login sets __Host-ap_access (Path=/, no Domain) and __Secure-ap_refresh (Path=/auth/refresh), HttpOnly; Secure; SameSite=Lax, Max-Age within the token lifetimes, under 4 KB', async () => {
    const s = await login(t.app, { email: u1.email });
    const access = cookieNamed(s.cookies, '__Host-ap_access')!;
    const refreshC = cookieNamed(s.cookies, '__Secure-ap_refresh')!;
    for (const c of [access, refreshC]) {
      expect(c).toMatch(/; HttpOnly/);
      expect(c).toMatch(/; Secure/);
      expect(c).toMatch(/; SameSite=Lax/);
      expect(c).not.toMatch(/Domain=/i);
      expect(Buffer.byteLength(c)).toBeLessThan(4096);
    }
    expect(access).toMatch(/; Path=\/(;|$)/);
    expect(refreshC).toMatch(/; Path=\/auth\/refresh(;|$)/);
    expect(Number(/Max-Age=(\d+)/.exec(access)![1])).toBeLessThanOrEqual(900);
    expect(Number(/Max-Age=(\d+)/.exec(refreshC)![1])).toBeLessThanOrEqual(2_592_000);
    expect(cookieValue(access)).toBe(s.accessToken);
    expect(cookieValue(refreshC)).toBe(s.refreshToken);
  });

  it('the access cookie authenticates when no Authorization header is sent; logout expires both cookies', async () => {
    const s = await login(t.app, { email: u1.email });
    const me = await call(t.app, { method: 'GET', url: '/auth/user', headers: { cookie: `__Host-ap_access=${s.accessToken}` } });
    expect(me.statusCode, me.body).toBe(200);
    const tenant = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: ['https://app.example'] } });
    const out = await call(t.app, { method: 'POST', url: '/auth/logout', headers: { cookie: `__Host-ap_access=${s.accessToken}`, origin: 'https://app.example' } });
    expect(out.statusCode, out.body).toBe(200);
    const cleared = setCookies(out);
    for (const [name, path] of [['__Host-ap_access', '/'], ['__Secure-ap_refresh', '/auth/refresh']] as const) {
      const c = cookieNamed(cleared, name)!;
      expect(c, name).toBeTruthy();
      expect(cookieValue(c)).toBe('');
      expect(c).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/);
      expect(c).toContain(`Path=${path}`);
    }
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
  });

  it('refresh and register replace both cookies with the new tokens', async () => {
    const s = await login(t.app, { email: u1.email });
    const r = await refresh(t.app, s.refreshToken);
    const cookies = setCookies(r);
    expect(cookieValue(cookieNamed(cookies, '__Host-ap_access')!)).toBe(r.data.tokens.accessToken);
    expect(cookieValue(cookieNamed(cookies, '__Secure-ap_refresh')!)).toBe(r.data.tokens.refreshToken);
    expect(cookieNamed(u2.cookies, '__Host-ap_access')).toBeTruthy();
    expect(cookieNamed(u2.cookies, '__Secure-ap_refresh')).toBeTruthy();
  });
});
