import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kv } from '../../../src/kv/kv.js';
import { KvUnavailableError } from '../../../src/kv/kv-errors.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { getUser, login, refresh, register, type SignedIn } from '../../helpers/identity.js';
import { mailsTo, tokenIn } from '../../helpers/mail.js';

/**
 * Issue 26: a change that revokes a user's sessions writes to Postgres and to the session store. Here
 * the session store fails in the middle — after the request was authenticated and the Postgres part
 * has run in its transaction, at the write that ends the sessions — as it would if Redis went away at
 * that moment. The change must then be all or nothing: 503, nothing applied (the flag, the password,
 * the link, the sessions all as before), and the same request completes on retry. Real Postgres and
 * Redis on the services backend (the fault is injected at the Kv port, over the real store).
 */
let t: TestApp;
let stores: Stores;
let admin: { key: string };
let failing = false;

/** The real store, except that ending sessions (the atomic batch write) fails while `failing` is set. */
function failingEnds(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === 'writeAll') {
        return (writes: Parameters<Kv['writeAll']>[0]) => (failing && writes.some((w) => w.op === 'del')
          ? Promise.reject(new KvUnavailableError('kv unavailable: injected fault'))
          : target.writeAll(writes));
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

beforeAll(async () => {
  const base = await createStores({ now: () => Date.now() });
  stores = { ...base, kv: failingEnds(base.kv) };
  t = await createTestApp({ stores });
  admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 90 });
});
afterAll(async () => { await t?.close(); await stores?.drop(); });

/** Both tokens of a sign-in still work (refreshing hands back a fresh pair). */
async function alive(s: SignedIn): Promise<SignedIn> {
  expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
  const r = await refresh(t.app, s.refreshToken);
  expect(r.statusCode, r.body).toBe(200);
  return { ...s, accessToken: r.data.tokens.accessToken, refreshToken: r.data.tokens.refreshToken };
}
async function dead(s: SignedIn): Promise<void> {
  expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
  expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
}
async function withFault<T>(fn: () => Promise<T>): Promise<T> {
  failing = true;
  try { return await fn(); } finally { failing = false; }
}
const expect503 = (res: { statusCode: number; data: any; body: string }) => {
  expect(res.statusCode, res.body).toBe(503);
  expect(res.data.error).toBe('unavailable');
};

describe(`the session store failing in the middle of a revocation (${BACKEND})`, () => {
  it('disabling a user: 503 and the user stays enabled with working tokens; the retry disables and ends them', async () => {
    const u = await register(t.app);
    let other = await login(t.app, { email: u.email });
    const res = await withFault(() => call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, json: { disabled: true }, token: admin.key }));
    expect503(res);
    const row = await t.stores.sql.ownerQuery<{ disabled: boolean }>('SELECT disabled FROM users WHERE id = $1', [u.userId]);
    expect(row.rows[0]!.disabled).toBe(false);
    other = await alive(other);
    const retry = await call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, json: { disabled: true }, token: admin.key });
    expect(retry.statusCode, retry.body).toBe(200);
    await dead(other);
    // Re-enabling brings nothing back.
    expect((await call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, json: { disabled: false }, token: admin.key })).statusCode).toBe(200);
    await dead(other);
  });

  it('"sign out everywhere": 503 and every session lives on; the retry ends them all', async () => {
    const u = await register(t.app);
    let other = await login(t.app, { email: u.email });
    const res = await withFault(() => call(t.app, { method: 'DELETE', url: '/auth/sessions', token: u.accessToken }));
    expect503(res);
    other = await alive(other);
    const retry = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: u.accessToken });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.data.revoked).toBe(2);
    await dead(other);
  });

  it('password reset: 503, the old password and sessions still work and the link is not used up; the retry completes it', async () => {
    const u = await register(t.app);
    let other = await login(t.app, { email: u.email });
    expect((await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: u.email } })).statusCode).toBe(202);
    await t.deps.services.mailer.drain();
    const token = tokenIn(mailsTo(t.config.dataDir, u.email).at(-1)!.text);
    const next = 'a brand new passphrase 42';
    expect503(await withFault(() => call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: next } })));
    other = await alive(other);
    await login(t.app, { email: u.email, password: u.password });
    const retry = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: next } });
    expect(retry.statusCode, retry.body).toBe(200);
    await dead(other);
    await login(t.app, { email: u.email, password: next });
  });

  it('password change: 503 and nothing changes; the retry changes it and ends the other sessions', async () => {
    const u = await register(t.app);
    let other = await login(t.app, { email: u.email });
    const body = { currentPassword: u.password, newPassword: 'another brand new passphrase 7' };
    expect503(await withFault(() => call(t.app, { method: 'POST', url: '/auth/password/change', json: body, token: u.accessToken })));
    other = await alive(other);
    await login(t.app, { email: u.email, password: u.password });
    const retry = await call(t.app, { method: 'POST', url: '/auth/password/change', json: body, token: u.accessToken });
    expect(retry.statusCode, retry.body).toBe(200);
    await dead(other);
    expect((await getUser(t.app, u.accessToken)).statusCode).toBe(200);
  });
});
