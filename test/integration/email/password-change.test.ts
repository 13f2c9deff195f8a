import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';

/** Changing the password of a signed-in user (SECURITY PWD-09, SES-03). */
const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a much better passphrase 2025';

let t: TestApp;
let defaultId: string;
beforeAll(async () => {
  t = await createTestApp();
  defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: RAISED });
});
afterAll(async () => { await t?.close(); });

let n = 0;
const address = () => `change${++n}-${Date.now()}@example.com`;
const login = (email: string, password: string) => call(t.app, { method: 'POST', url: '/auth/login', json: { email, password } });
const change = (accessToken: string | undefined, json: unknown, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/password/change', token: accessToken, json, headers });
const audit = async (action: string, actorId: string) => (await t.deps.audit.list({ tenantId: defaultId, action, actorId, limit: 50 })).items;

async function register(email = address()) {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  return { email, userId: res.data.user.id as string, accessToken: res.data.tokens.accessToken as string };
}

describe('PWD-09 a password change needs the current password', () => {
  it('changes it, keeps the current session and ends every other one', async () => {
    const u = await register();
    const other = await login(u.email, PASSWORD);
    const res = await change(u.accessToken, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toEqual({ message: expect.any(String), sessionsEnded: 1 });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: other.data.tokens.accessToken })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: other.data.tokens.refreshToken } })).statusCode).toBe(401);
    expect((await login(u.email, PASSWORD)).statusCode).toBe(401);
    expect((await login(u.email, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await audit('password.change', u.userId)).map((e) => e.outcome)).toEqual(['success']);
  });

  it('without the current password: 400; with a wrong one: 401 invalid_credentials (audited), nothing changes', async () => {
    const u = await register();
    const missing = await change(u.accessToken, { newPassword: NEW_PASSWORD });
    expect(missing.statusCode).toBe(400);
    const wrong = await change(u.accessToken, { currentPassword: 'not the password at all', newPassword: NEW_PASSWORD });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.data.error).toBe('invalid_credentials');
    expect((await audit('password.change', u.userId)).map((e) => e.outcome)).toEqual(['failure']);
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
    // A failed attempt does not end the session that made it.
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(200);
  });

  it('the new password goes through the policy and must differ from the current one', async () => {
    const u = await register();
    for (const newPassword of ['short', 'password123', PASSWORD, 'aaaaaaaaaaaaaa']) {
      const res = await change(u.accessToken, { currentPassword: PASSWORD, newPassword });
      expect(res.statusCode, newPassword).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
  });

  it('needs an access token: 401 without one, 403 for an API key', async () => {
    expect((await change(undefined, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD })).statusCode).toBe(401);
    const key = await change(undefined, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, { 'x-api-key': `ck_${'b'.repeat(43)}` });
    expect(key.statusCode).toBe(403);
  });

  it('bad input is 400 and changes nothing', async () => {
    const u = await register();
    for (const json of [{}, { currentPassword: PASSWORD }, { currentPassword: 1, newPassword: NEW_PASSWORD }, { currentPassword: PASSWORD, newPassword: ['x'] },
      { currentPassword: 'x'.repeat(5000), newPassword: NEW_PASSWORD }, { currentPassword: PASSWORD, newPassword: 'y'.repeat(5000) },
      { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, email: 'new@x.test' }, [PASSWORD]]) {
      const res = await change(u.accessToken, json);
      expect(res.statusCode, JSON.stringify(json).slice(0, 60)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
  });

  it('PWD-09 step 3: there is no email change; PATCH /auth/user {email} changes nothing', async () => {
    const u = await register();
    const res = await call(t.app, { method: 'PATCH', url: '/auth/user', token: u.accessToken, json: { email: 'new@x.test' } });
    expect([400, 404, 405]).toContain(res.statusCode);
    const me = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(me.data.email).toBe(u.email);
  });
});
