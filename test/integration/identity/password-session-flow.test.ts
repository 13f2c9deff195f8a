import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { getUser, login, newEmail, ownerSql, parts, PASSWORD, raiseLimits, refresh, register } from '../../helpers/identity.js';
import { normalizePassword } from '../../../src/modules/password/policy.js';
import { userStore } from '../../../src/modules/users/store.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
});
afterAll(async () => { await t?.close(); });

const auditActions = async (userId: string) => {
  const { rows } = await t.stores.sql.ownerQuery<{ action: string; outcome: string; metadata: Record<string, unknown> }>(
    'SELECT action, outcome, metadata FROM audit_events WHERE actor_id = $1 ORDER BY seq', [userId]);
  return rows;
};

describe('register → login → refresh → logout', () => {
  it('runs the whole path with the Cedros shapes', async () => {
    const reg = await register(t.app);
    expect(reg.body.user.email).toBe(reg.email);
    expect(reg.body.isNewUser).toBe(true);
    expect(reg.body.tokens.expiresIn).toBe(900);
    expect(reg.body.user).not.toHaveProperty('passwordHash');

    const loginRes = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: reg.email.toUpperCase(), password: PASSWORD } });
    expect(loginRes.statusCode, loginRes.body).toBe(200);
    expect(loginRes.headers['cache-control']).toBe('no-store');
    expect(loginRes.data.isNewUser).toBe(false);
    const cookies = ([] as string[]).concat(loginRes.headers['set-cookie'] ?? []);
    expect(cookies.find((c) => c.startsWith('__Host-ap_access='))).toMatch(/HttpOnly; Secure; SameSite=Lax/);
    expect(cookies.find((c) => c.startsWith('__Secure-ap_refresh='))).toMatch(/Path=\/auth\/refresh/);

    const me = await getUser(t.app, loginRes.data.tokens.accessToken);
    expect(me.statusCode, me.body).toBe(200);
    expect(me.data.id).toBe(reg.userId);

    const ref = await refresh(t.app, loginRes.data.tokens.refreshToken);
    expect(ref.statusCode, ref.body).toBe(200);
    expect(ref.data.tokens.refreshToken).not.toBe(loginRes.data.tokens.refreshToken);
    expect(ref.data.user.id).toBe(reg.userId);
    expect(ref.data.isNewUser).toBe(false);

    const out = await call(t.app, { method: 'POST', url: '/auth/logout', token: ref.data.tokens.accessToken });
    expect(out.statusCode).toBe(200);
    expect((await getUser(t.app, ref.data.tokens.accessToken)).statusCode).toBe(401);
    expect((await getUser(t.app, loginRes.data.tokens.accessToken)).statusCode).toBe(401);
    expect((await refresh(t.app, ref.data.tokens.refreshToken)).statusCode).toBe(401);
    // the registration's own session is separate and still live
    expect((await getUser(t.app, reg.accessToken)).statusCode).toBe(200);

    const actions = (await auditActions(reg.userId)).map((r) => `${r.action}:${r.outcome}`);
    expect(actions).toEqual(expect.arrayContaining(['user.signup:success', 'user.login:success', 'session.logout:success']));
  });

  it('GET /auth/user returns the allow-listed user shape', async () => {
    const s = await register(t.app);
    const me = await getUser(t.app, s.accessToken);
    expect(Object.keys(me.data).sort()).toEqual(['createdAt', 'email', 'emailVerified', 'id', 'name', 'tenantId', 'updatedAt']);
    expect(me.data).toMatchObject({ id: s.userId, email: s.email, emailVerified: false, name: null });
    expect(new Date(me.data.createdAt).toISOString()).toBe(me.data.createdAt);
  });
});

describe('users per tenant', () => {
  it('an email is unique per tenant, case-insensitively → 409 email_taken; the same email works in another tenant', async () => {
    const email = newEmail('Unique');
    const first = await register(t.app, { email });
    for (const variant of [email.toLowerCase(), email.toUpperCase(), `  ${email}  `]) {
      const dup = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: variant, password: 'another good passphrase' } });
      expect(dup.statusCode, variant).toBe(409);
      expect(dup.data.error).toBe('email_taken');
    }
    await t.deps.tenants.create({ slug: 'users-t2', name: 'T2' });
    await raiseLimits(t, 'users-t2');
    const other = await register(t.app, { email, tenant: 'users-t2' });
    expect(other.userId).not.toBe(first.userId);
    expect(other.body.user.tenantId).not.toBe(first.body.user.tenantId);
    // each tenant's password belongs to its own user
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: 'another good passphrase' }, headers: { 'x-tenant-id': 'users-t2' } })).statusCode).toBe(401);
  });

  it('two concurrent registrations of one email: exactly one wins', async () => {
    const email = newEmail('race');
    const results = await Promise.all(Array.from({ length: 5 }, () => call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } })));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 409)).toHaveLength(4);
  });

  it('stores an argon2id hash with at least OWASP\'s parameters, never the password', async () => {
    const s = await register(t.app);
    const { rows } = await t.stores.sql.ownerQuery<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [s.userId]);
    const hash = rows[0]!.password_hash;
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    const param = (k: string) => Number(new RegExp(`[$,]${k}=(\\d+)`).exec(hash)![1]);
    expect(param('m')).toBeGreaterThanOrEqual(19_456);
    expect(param('t')).toBeGreaterThanOrEqual(2);
    expect(param('p')).toBe(1);
    expect(hash).not.toContain(PASSWORD);
  });

  it('a login re-hashes a hash made with weaker parameters', async () => {
    const s = await register(t.app);
    const weak = await argon2.hash(normalizePassword(PASSWORD), { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await ownerSql(t, 'UPDATE users SET password_hash = $2 WHERE id = $1', [s.userId, weak]);
    const before = t.deps.services.hasher.stats().hashes;
    await login(t.app, { email: s.email });
    expect(t.deps.services.hasher.stats().hashes).toBe(before + 1);
    const { rows } = await t.stores.sql.ownerQuery<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [s.userId]);
    expect(rows[0]!.password_hash).toMatch(/m=19456,p=1,t=2\$/);
    // and the next login does not hash again
    await login(t.app, { email: s.email });
    expect(t.deps.services.hasher.stats().hashes).toBe(before + 1);
  });
});

describe('disabled users', () => {
  it('cannot log in (the generic 401, even with the right password), and the failure is audited as such', async () => {
    const s = await register(t.app);
    await ownerSql(t, 'UPDATE users SET disabled = true WHERE id = $1', [s.userId]);
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: s.email, password: PASSWORD } });
    expect(res.statusCode).toBe(401);
    expect(res.data).toMatchObject({ error: 'invalid_credentials', message: 'The email or password is incorrect.' });
    expect(res.headers['set-cookie']).toBeUndefined();
    const failures = (await auditActions(s.userId)).filter((r) => r.action === 'user.login' && r.outcome === 'failure');
    expect(failures.at(-1)!.metadata.reason).toBe('disabled');
  });

  it('cannot refresh, and disabling through the user service ends every session at once', async () => {
    const s = await register(t.app);
    const other = await login(t.app, { email: s.email });
    const tenantId = s.body.user.tenantId;
    const disabled = await t.deps.services.users.setDisabled(tenantId, s.userId, true);
    expect(disabled?.disabled).toBe(true);
    for (const x of [s, other]) {
      expect((await getUser(t.app, x.accessToken)).statusCode).toBe(401);
      expect((await refresh(t.app, x.refreshToken)).statusCode).toBe(401);
    }
    await t.deps.services.users.setDisabled(tenantId, s.userId, false);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email: s.email, password: PASSWORD } })).statusCode).toBe(200);
  });
});

describe('the profile cache behind GET /auth/user', () => {
  it('a change made through the user store shows at once on this instance and on the other', async () => {
    const b = (await t.second()).app;
    const s = await register(t.app);
    expect((await getUser(t.app, s.accessToken)).data.emailVerified).toBe(false);
    expect((await getUser(b, s.accessToken)).data.emailVerified).toBe(false);
    await t.deps.sql.tx(s.body.user.tenantId, (tx) => userStore.setEmailVerified(tx, s.userId, t.clock.now()));
    expect((await getUser(t.app, s.accessToken)).data.emailVerified).toBe(true);
    const until = Date.now() + 5_000;
    while (!(await getUser(b, s.accessToken)).data.emailVerified) {
      if (Date.now() > until) throw new Error('the other instance kept the stale profile');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('serves a repeated GET /auth/user without Postgres', async () => {
    const s = await register(t.app);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    const sql = t.deps.sql;
    const original = sql.tx;
    let queries = 0;
    sql.tx = ((...args: Parameters<typeof original>) => { queries++; return original.apply(sql, args); }) as typeof original;
    try {
      for (let i = 0; i < 5; i++) expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    } finally {
      sql.tx = original;
    }
    expect(queries).toBe(0);
  });

  it('the access token\'s session, not the cache, decides: a token of a deleted session is refused at once', async () => {
    const s = await register(t.app);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    await t.deps.services.sessions.revoke(s.body.user.tenantId, s.userId, parts(s.accessToken).payload.sid);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
  });
});
