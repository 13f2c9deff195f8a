import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mfaStore } from '../../../src/modules/mfa/store.js';
import { publicUser, userStore } from '../../../src/modules/users/store.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { auditOf, enableMfa, MFA_TEST_ENV, nextCode, PASSWORD, register } from './mfa-helpers.js';

/**
 * A password sign-in reads whether the user's MFA is enabled in the statement that reads the user
 * (userStore.byEmailForSignIn) instead of a transaction of its own, and writes its audit row in the
 * transaction that starts the session (issue 21). The flag must agree with the MFA store's own read, a
 * sign-in that read it before MFA was enabled must not get a session, and a refused session start must
 * leave no `user.login` row.
 */
let t: TestApp;
beforeAll(async () => { t = await createTestApp({ env: MFA_TEST_ENV }); });
afterAll(async () => { await t?.close(); });

const ctx = { ip: null, userAgent: null, requestId: null };

describe(`the MFA flag read with the user (${BACKEND})`, () => {
  it('agrees with the MFA store: no factor, pending setup, enabled, disabled again', async () => {
    const u = await register(t);
    const tenant = await t.deps.tenants.defaultTenant();
    const agree = async (expected: boolean) => {
      const [withFlag, plain, factor] = await t.deps.sql.tx(tenant.id, async (tx) => [
        await userStore.byEmailForSignIn(tx, u.email), await userStore.byEmail(tx, u.email), await mfaStore.factor(tx, u.userId),
      ] as const);
      const { mfaEnabled, ...user } = withFlag!;
      expect(mfaEnabled).toBe(expected);
      expect(mfaEnabled).toBe(!!factor?.enabledAt);
      expect(user).toEqual(plain);
    };
    await agree(false);
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    expect(setup.statusCode, setup.body).toBe(200);
    await agree(false);
    const en = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: nextCode(t, setup.data.secret) } });
    expect(en.statusCode, en.body).toBe(200);
    await agree(true);
    // What POST /mfa/disable removes (its flow, with the TOTP gate, is mfa-flow.test.ts's).
    expect(await t.deps.sql.tx(tenant.id, (tx) => mfaStore.remove(tx, u.userId))).toBeTruthy();
    await agree(false);
    expect(await t.deps.sql.tx(tenant.id, (tx) => userStore.byEmailForSignIn(tx, `nobody-${Date.now()}@example.com`))).toBeNull();
  });

  it('a sign-in that read "no MFA" before MFA was enabled gets no session, and leaves no user.login row', async () => {
    const u = await register(t);
    const tenant = await t.deps.tenants.defaultTenant();
    const read = (await t.deps.sql.tx(tenant.id, (tx) => userStore.byEmailForSignIn(tx, u.email)))!;
    expect(read.mfaEnabled).toBe(false);
    await enableMfa(t, u.accessToken);
    const logins = (await auditOf(t, 'user.login')).length;
    const { mfaEnabled, ...found } = read;
    await expect(t.deps.services.signIn.complete({ tenant, user: publicUser(found), amr: ['pwd'], method: 'password', ctx, mfaEnabled }))
      .rejects.toMatchObject({ code: 'invalid_credentials' });
    expect((await auditOf(t, 'user.login')).length).toBe(logins);
    // Through HTTP the same account now answers mfaRequired, with no session.
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.mfaRequired).toBe(true);
    expect(res.data.tokens).toBeUndefined();
  });

  it('a successful login writes its user.login row naming the new session', async () => {
    const u = await register(t);
    const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(res.statusCode, res.body).toBe(200);
    const sid = JSON.parse(Buffer.from(String(res.data.tokens.accessToken).split('.')[1]!, 'base64url').toString()).sid;
    const rows = (await auditOf(t, 'user.login')).filter((r) => r.target === sid);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'success', actor_id: u.userId });
  });
});
