import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';
import { newWallet } from '../integration/solana/wallet.js';
import { createSoftAuthenticator } from '../integration/passkeys/soft-authenticator.js';
import { mfaStore } from '../../src/modules/mfa/store.js';
import { userStore } from '../../src/modules/users/store.js';
import {
  amrOf, codeNow, enableMfa, loginForMfaToken, MFA_TEST_ENV, newEmail, nextCode, PASSWORD, register,
} from '../integration/mfa/mfa-helpers.js';

/** SECURITY MFA-04 (no session before the second factor), MFA-05 (every sign-in path), PWD-07 step 7, cross-tenant. */
let t: TestApp;
let defaultId: string;
let t2Id: string;
const REDIRECT = 'https://app.example.com/auth/callback';
const PK_ORIGIN = 'https://app.example';
const PK_RP_ID = 'app.example';
beforeAll(async () => {
  t = await createTestApp({ env: MFA_TEST_ENV });
  defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: { redirectUrls: [REDIRECT] } });
  t2Id = (await t.deps.tenants.create({ slug: 'mfa-t2', name: 'T2' })).id;
  await t.deps.tenants.create({ slug: 'mfa-pk', name: 'PK', settings: { allowedOrigins: [PK_ORIGIN], webauthnRpId: PK_RP_ID } });
});
afterAll(async () => { await t?.close(); });

const liveSessions = (userId: string, tenantId = defaultId) => t.deps.services.sessions.list(tenantId, userId);
const loginMfa = (json: Record<string, unknown>, headers: Record<string, string> = {}) => call(t.app, { method: 'POST', url: '/auth/login/mfa', json, headers });

describe('MFA-04 no session exists before the second factor', () => {
  it('login answers mfaRequired with no tokens, no cookies and no session; the mfaToken is no bearer', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const before = (await liveSessions(u.userId)).length;

    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(login.statusCode).toBe(200);
    expect(Object.keys(login.data).sort()).toEqual(['mfaRequired', 'mfaToken', 'userId']);
    expect(login.headers['set-cookie']).toBeUndefined();
    expect(login.body).not.toMatch(/accessToken|refreshToken|apiKey/);
    expect((await liveSessions(u.userId)).length).toBe(before);

    const asBearer = await call(t.app, { method: 'GET', url: '/auth/user', token: login.data.mfaToken });
    expect(asBearer.statusCode).toBe(401);
    const asKey = await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': login.data.mfaToken } });
    expect(asKey.statusCode).toBe(401);
    // the mfaToken is a credential: never in the logs or the audit log
    expect(t.logs.join('\n')).not.toContain(login.data.mfaToken);
    expect(JSON.stringify((await t.deps.audit.list({ actorId: u.userId, limit: 200 })).items)).not.toContain(login.data.mfaToken);

    const ok = await loginMfa({ mfaToken: login.data.mfaToken, code: nextCode(t, secret) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await liveSessions(u.userId)).length).toBe(before + 1);
    // replaying the used mfaToken, even with a new valid code
    const replay = await loginMfa({ mfaToken: login.data.mfaToken, code: nextCode(t, secret) });
    expect(replay.statusCode).toBe(401);
    expect(replay.data.error).toBe('invalid_token');
  });

  it('an mfaToken expires after 5 minutes (by the injected clock)', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const m1 = await loginForMfaToken(t, u.email);
    t.clock.advance(4 * 60_000 + 50_000);
    expect((await loginMfa({ mfaToken: m1, code: codeNow(t, secret) })).statusCode, 'still valid at 4:50').toBe(200);
    const m2 = await loginForMfaToken(t, u.email);
    t.clock.advance(5 * 60_000 + 1_000);
    const late = await loginMfa({ mfaToken: m2, code: codeNow(t, secret) });
    expect(late.statusCode).toBe(401);
    expect(late.data.error).toBe('invalid_token');
  });

  it('U1\'s mfaToken with U2\'s valid code → 401 invalid_code; an unknown mfaToken → 401', async () => {
    const u1 = await register(t);
    await enableMfa(t, u1.accessToken);
    const u2 = await register(t);
    const { secret: s2 } = await enableMfa(t, u2.accessToken);
    const m1 = await loginForMfaToken(t, u1.email);
    const res = await loginMfa({ mfaToken: m1, code: nextCode(t, s2) });
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_code');
    const unknown = await loginMfa({ mfaToken: `mfa_${'A'.repeat(43)}`, code: '123456' });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.data.error).toBe('invalid_token');
  });

  it('an mfaToken works only in its tenant (X-Tenant-ID of another tenant → 401)', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const m = await loginForMfaToken(t, u.email);
    const other = await loginMfa({ mfaToken: m, code: nextCode(t, secret) }, { 'x-tenant-id': 'mfa-t2' });
    expect(other.statusCode).toBe(401);
    expect(other.data.error).toBe('invalid_token');
    // the failed attempt did not use it up in its own tenant (the code is new: the other attempt never checked it)
    expect((await loginMfa({ mfaToken: m, code: codeNow(t, secret) })).statusCode).toBe(200);
  });

  it('a disabled user cannot finish the sign-in', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const m = await loginForMfaToken(t, u.email);
    const admin = await t.deps.adminKeys.create({ name: 'mfa-test', expiresInDays: 1 });
    const dis = await call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, token: admin.key, json: { disabled: true } });
    expect(dis.statusCode, dis.body).toBe(200);
    const res = await loginMfa({ mfaToken: m, code: nextCode(t, secret) });
    expect(res.statusCode).toBe(401);
    expect(res.data.tokens).toBeUndefined();
  });
});

describe('MFA-05 every sign-in path goes through the second factor', () => {
  it('a magic link of a user with MFA answers MfaRequiredResponse; /login/mfa keeps the email method and adds otp', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    // a verified address (an unverified one takes the pre-hijack path of the magic-link module, which ends sessions)
    await t.deps.sql.tx(defaultId, (tx) => userStore.setEmailVerified(tx, u.userId, t.clock.now()));
    const req = await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email: u.email } });
    expect(req.statusCode, req.body).toBe(200);
    await t.deps.services.mailer.drain();
    const mails = mailsTo(t.config.dataDir, u.email);
    const token = tokenIn(mails[mails.length - 1]!.text);
    const before = (await liveSessions(u.userId)).length;
    const v = await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token } });
    expect(v.statusCode, v.body).toBe(200);
    expect(v.data).toEqual({ mfaRequired: true, mfaToken: expect.stringMatching(/^mfa_/), userId: u.userId });
    expect(v.headers['set-cookie']).toBeUndefined();
    expect((await liveSessions(u.userId)).length).toBe(before);
    const done = await loginMfa({ mfaToken: v.data.mfaToken, code: nextCode(t, secret) });
    expect(done.statusCode, done.body).toBe(200);
    expect(amrOf(done.data.tokens.accessToken).sort()).toEqual(['email', 'otp']);
    const s = (await liveSessions(u.userId)).find((x) => x.id === String(JSON.parse(Buffer.from(done.data.tokens.accessToken.split('.')[1], 'base64url').toString()).sid));
    expect(s?.method).toBe('magic_link');
  });

  it('a Solana wallet sign-in of a user with MFA answers MfaRequiredResponse', async () => {
    const w = newWallet();
    const signInWallet = async () => {
      const c = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey: w.publicKey } });
      expect(c.statusCode, c.body).toBe(200);
      return call(t.app, { method: 'POST', url: '/auth/solana', json: { publicKey: w.publicKey, signature: w.sign(c.data.message) } });
    };
    const first = await signInWallet();
    expect(first.statusCode, first.body).toBe(200);
    const { secret } = await enableMfa(t, first.data.tokens.accessToken);
    const again = await signInWallet();
    expect(again.statusCode, again.body).toBe(200);
    expect(again.data).toEqual({ mfaRequired: true, mfaToken: expect.stringMatching(/^mfa_/), userId: first.data.user.id });
    const done = await loginMfa({ mfaToken: again.data.mfaToken, code: nextCode(t, secret) });
    expect(done.statusCode, done.body).toBe(200);
    expect(amrOf(done.data.tokens.accessToken).sort()).toEqual(['otp', 'swk']);
  });

  it('a passkey sign-in of a user with MFA answers MfaRequiredResponse (no UV exemption)', async () => {
    const h = { 'x-tenant-id': 'mfa-pk' };
    const u = await register(t, { tenant: 'mfa-pk', email: newEmail('pk') });
    const auth = createSoftAuthenticator({ origin: PK_ORIGIN, rpId: PK_RP_ID });
    const opts = await call(t.app, { method: 'POST', url: '/auth/passkeys/register/options', token: u.accessToken });
    expect(opts.statusCode, opts.body).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/passkeys/register/verify', token: u.accessToken, json: auth.register(opts.data) })).statusCode).toBe(201);
    const { secret } = await enableMfa(t, u.accessToken, h);
    const lo = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/options', json: { email: u.email }, headers: h });
    expect(lo.statusCode, lo.body).toBe(200);
    const v = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/verify', json: auth.login(lo.data), headers: h });
    expect(v.statusCode, v.body).toBe(200);
    expect(v.data).toEqual({ mfaRequired: true, mfaToken: expect.stringMatching(/^mfa_/), userId: u.userId });
    expect(v.headers['set-cookie']).toBeUndefined();
    const done = await loginMfa({ mfaToken: v.data.mfaToken, code: nextCode(t, secret) }, h);
    expect(done.statusCode, done.body).toBe(200);
    expect(amrOf(done.data.tokens.accessToken)).toEqual(expect.arrayContaining(['hwk', 'otp']));
  });

  it('PWD-07 step 7: after a password reset, login still answers mfaRequired; the reset never signs in', async () => {
    const u = await register(t);
    await enableMfa(t, u.accessToken);
    // The owner proved the address earlier; a reset of a never-verified account instead strips every factor
    // its registrant attached (pre-account-takeover, test/integration/magic-link/magic-link.test.ts).
    await t.deps.sql.tx(defaultId, (tx) => userStore.setEmailVerified(tx, u.userId, t.clock.now()));
    expect((await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: u.email } })).statusCode).toBe(202);
    await t.deps.services.mailer.drain();
    const mails = mailsTo(t.config.dataDir, u.email);
    const token = tokenIn(mails[mails.length - 1]!.text);
    const newPassword = 'a brand new passphrase 42';
    const reset = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: newPassword } });
    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.body).not.toMatch(/accessToken|refreshToken|mfaToken/);
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: newPassword } });
    expect(login.statusCode).toBe(200);
    expect(login.data.mfaRequired).toBe(true);
  });
});

describe('tenant isolation of the MFA tables', () => {
  it('a user of T2 with MFA: rows are invisible from the default tenant, and a T2 token is refused there', async () => {
    const v = await register(t, { tenant: 'mfa-t2', email: newEmail('t2') });
    const { secret } = await enableMfa(t, v.accessToken);
    const status = await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: v.accessToken });
    expect(status.data).toEqual({ enabled: true, recoveryCodesRemaining: 10 });
    // the row exists in T2 and is not visible through RLS from the default tenant
    expect(await t.deps.sql.tx(t2Id, (tx) => mfaStore.factor(tx, v.userId))).not.toBeNull();
    expect(await t.deps.sql.tx(defaultId, (tx) => mfaStore.factor(tx, v.userId))).toBeNull();
    expect(await t.deps.sql.tx(defaultId, (tx) => mfaStore.recoveryCodesRemaining(tx, v.userId))).toBe(0);
    expect(await t.deps.sql.tx(defaultId, (tx) => mfaStore.remove(tx, v.userId))).toBe(false);
    expect(await t.deps.sql.tx(defaultId, (tx) => mfaStore.useStep(tx, v.userId, 'x', 1e12, new Date()))).toBe(false);
    // a T2 access token with X-Tenant-ID: default
    const mismatch = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: v.accessToken, headers: { 'x-tenant-id': 'default' }, json: { code: nextCode(t, secret) } });
    expect(mismatch.statusCode).toBe(403);
    expect(mismatch.data.error).toBe('tenant_mismatch');
    // a T2 login gives a T2 mfaToken; the same email in the default tenant is another account
    const m = await loginForMfaToken(t, v.email, { 'x-tenant-id': 'mfa-t2' });
    expect((await loginMfa({ mfaToken: m, code: codeNow(t, secret) })).statusCode, 'used in the default tenant').toBe(401);
    expect((await loginMfa({ mfaToken: m, code: codeNow(t, secret) }, { 'x-tenant-id': 'mfa-t2' })).statusCode).toBe(200);
    expect(await t.deps.sql.tx(t2Id, (tx) => mfaStore.factor(tx, v.userId))).toMatchObject({ tenantId: t2Id });
  });
});
