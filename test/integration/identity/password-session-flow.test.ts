import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';

let t: TestApp;
beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t?.close(); });

const PASSWORD = 'correct horse battery staple';
let n = 0;
const email = () => `user${++n}-${Date.now()}@example.com`;

async function register(e = email()) {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: e, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(201);
  return { email: e, ...res.data };
}

describe('register → login → refresh → logout', () => {
  it('runs the whole path with the Cedros shapes', async () => {
    const reg = await register();
    expect(reg.user.email).toBe(reg.email);
    expect(reg.isNewUser).toBe(true);
    expect(reg.tokens.expiresIn).toBe(900);
    expect(reg.user).not.toHaveProperty('passwordHash');

    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: reg.email.toUpperCase(), password: PASSWORD } });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.headers['cache-control']).toBe('no-store');
    const cookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    expect(cookies.find((c) => c.startsWith('__Host-ap_access='))).toMatch(/HttpOnly; Secure; SameSite=Lax/);
    expect(cookies.find((c) => c.startsWith('__Secure-ap_refresh='))).toMatch(/Path=\/auth\/refresh/);

    const me = await call(t.app, { method: 'GET', url: '/auth/user', token: login.data.tokens.accessToken });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.data.user.id).toBe(reg.user.id);

    const ref = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: login.data.tokens.refreshToken } });
    expect(ref.statusCode, ref.body).toBe(200);
    expect(ref.data.tokens.refreshToken).not.toBe(login.data.tokens.refreshToken);

    const out = await call(t.app, { method: 'POST', url: '/auth/logout', token: ref.data.tokens.accessToken });
    expect(out.statusCode).toBe(204);
    const after = await call(t.app, { method: 'GET', url: '/auth/user', token: ref.data.tokens.accessToken });
    expect(after.statusCode).toBe(401);
    const old = await call(t.app, { method: 'GET', url: '/auth/user', token: login.data.tokens.accessToken });
    expect(old.statusCode).toBe(401);
    const r2 = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: ref.data.tokens.refreshToken } });
    expect(r2.statusCode).toBe(401);
  });
});
