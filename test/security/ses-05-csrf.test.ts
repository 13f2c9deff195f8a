import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { getUser, login, parts, raiseLimits, refresh, register } from '../helpers/identity.js';

// SES-05: state changes authenticated by cookie need an allowed Origin; no side effects on GET.
// Cookie-authenticated reads from a foreign Origin are refused too (the cookie is shared by every
// tenant on this host while CORS admits the union of their origins).

const ALLOWED = 'https://app.example';
let t: TestApp;
let email: string;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  const tenant = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ALLOWED] } });
  await t.deps.tenants.create({ slug: 'other', name: 'Other', settings: { allowedOrigins: ['https://other-tenant.example'] } });
  email = (await register(t.app)).email;
});
afterAll(async () => { await t?.close(); });

const cookieOnly = (accessToken: string, extra: Record<string, string> = {}) => ({ cookie: `__Host-ap_access=${accessToken}`, ...extra });

/** POST /auth/logout authenticated by cookie only. */
const logoutByCookie = (accessToken: string, headers: Record<string, string> = {}, body?: { payload: string; type: string }) =>
  call(t.app, {
    method: 'POST', url: '/auth/logout',
    headers: { ...cookieOnly(accessToken, headers), ...(body ? { 'content-type': body.type } : {}) },
    ...(body ? { payload: body.payload } : {}),
  });

async function stillLive(accessToken: string) {
  expect((await getUser(t.app, accessToken)).statusCode).toBe(200);
}

describe('SES-05 CSRF on cookie-authenticated state changes', () => {
  it('refuses a missing Origin, Origin: null, a foreign Origin and Sec-Fetch-Site: cross-site with 403, changing nothing', async () => {
    const s = await login(t.app, { email });
    for (const headers of [{}, { origin: 'null' }, { origin: 'https://evil.example' }, { origin: `${ALLOWED}.evil.com` }, { origin: 'http://app.example' }, { origin: ALLOWED, 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const res = await logoutByCookie(s.accessToken, headers);
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(res.data.error).toBe('forbidden');
    }
    await stillLive(s.accessToken);
  });

  it('refuses text/plain and form bodies (not preflighted by browsers) with 415, changing nothing', async () => {
    const s = await login(t.app, { email });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await logoutByCookie(s.accessToken, { origin: ALLOWED }, { payload: type.startsWith('multipart') ? '--x--' : 'a=b', type });
      expect(res.statusCode, type).toBe(415);
      expect(res.data.error).toBe('unsupported_media_type');
    }
    // …and without an Origin the CSRF rule answers first
    expect((await logoutByCookie(s.accessToken, {}, { payload: 'a=b', type: 'text/plain' })).statusCode).toBe(403);
    await stillLive(s.accessToken);
  });

  it('proceeds with an allowed Origin', async () => {
    const s = await login(t.app, { email });
    const res = await logoutByCookie(s.accessToken, { origin: ALLOWED });
    expect(res.statusCode).toBe(200);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
  });

  it('another tenant\'s allowed origin is not enough for this tenant\'s user', async () => {
    const s = await login(t.app, { email });
    expect((await logoutByCookie(s.accessToken, { origin: 'https://other-tenant.example' })).statusCode).toBe(403);
    const read = await call(t.app, { method: 'GET', url: '/auth/user', headers: cookieOnly(s.accessToken, { origin: 'https://other-tenant.example' }) });
    expect(read.statusCode).toBe(403);
    await stillLive(s.accessToken);
  });

  it('bearer requests need no Origin', async () => {
    const s = await login(t.app, { email });
    const res = await call(t.app, { method: 'POST', url: '/auth/logout', token: s.accessToken });
    expect(res.statusCode).toBe(200);
  });

  it('DELETE /auth/sessions/{id} by cookie without Origin → 403; the session lives', async () => {
    const s = await login(t.app, { email });
    const sid = parts(s.accessToken).payload.sid;
    const res = await call(t.app, { method: 'DELETE', url: `/auth/sessions/${sid}`, headers: cookieOnly(s.accessToken) });
    expect(res.statusCode).toBe(403);
    await stillLive(s.accessToken);
    const ok = await call(t.app, { method: 'DELETE', url: `/auth/sessions/${sid}`, headers: cookieOnly(s.accessToken, { origin: ALLOWED }) });
    expect(ok.statusCode).toBe(204);
  });

  it('refresh by cookie needs an allowed Origin too', async () => {
    const s = await login(t.app, { email });
    const byCookie = (headers: Record<string, string>) => call(t.app, { method: 'POST', url: '/auth/refresh', headers: { cookie: `__Secure-ap_refresh=${s.refreshToken}`, ...headers } });
    for (const headers of [{}, { origin: 'null' }, { origin: 'https://evil.example' }, { origin: ALLOWED, 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      expect((await byCookie(headers)).statusCode, JSON.stringify(headers)).toBe(403);
    }
    const ok = await byCookie({ origin: ALLOWED });
    expect(ok.statusCode, ok.body).toBe(200);
    // the rotated token from the body flow is what counts now
    expect((await refresh(t.app, ok.data.tokens.refreshToken)).statusCode).toBe(200);
  });

  it('cookie reads: no Origin (same-origin) and the allowed Origin pass', async () => {
    const s = await login(t.app, { email });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: cookieOnly(s.accessToken) })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: cookieOnly(s.accessToken, { origin: ALLOWED }) })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: cookieOnly(s.accessToken, { origin: 'https://evil.example' }) })).statusCode).toBe(403);
  });

  it('GET never changes state: GET /auth/logout and a _method=DELETE override do nothing', async () => {
    const s = await login(t.app, { email });
    const sid = parts(s.accessToken).payload.sid;
    const g1 = await call(t.app, { method: 'GET', url: '/auth/logout', headers: cookieOnly(s.accessToken) });
    expect([404, 405]).toContain(g1.statusCode);
    const g2 = await call(t.app, { method: 'GET', url: `/auth/sessions/${sid}?_method=DELETE`, headers: cookieOnly(s.accessToken) });
    expect([404, 405]).toContain(g2.statusCode);
    const g3 = await call(t.app, { method: 'POST', url: `/auth/sessions/${sid}?_method=DELETE`, headers: cookieOnly(s.accessToken, { origin: ALLOWED, 'x-http-method-override': 'DELETE' }) });
    expect([404, 405]).toContain(g3.statusCode);
    await stillLive(s.accessToken);
    expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(200);
  });
});
