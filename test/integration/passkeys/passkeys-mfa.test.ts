import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { amrOf, enableMfa, freshSessionWithoutStepUp, MFA_TEST_ENV, nextCode, register } from '../mfa/mfa-helpers.js';
import { newWallet } from '../solana/wallet.js';
import { createSoftAuthenticator } from './soft-authenticator.js';

/** SECURITY MFA-05 (every sign-in path enforces MFA) and PK-05 / SOL-05 step 3 (the step-up gate). */
const ORIGIN = 'https://app.example';
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MFA_TEST_ENV });
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { allowedOrigins: [ORIGIN], webauthnRpId: 'app.example' } });
});
afterAll(async () => { await t?.close(); });

const post = (url: string, token?: string, json?: unknown, headers: Record<string, string> = {}) => call(t.app, { method: 'POST', url, token, json, headers });

describe('passkeys and MFA', () => {
  it('registration needs a step-up for a user with MFA; a passkey sign-in then answers MfaRequiredResponse, with no session', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const s = await freshSessionWithoutStepUp(t, u.email, secret);

    const gated = await post('/auth/passkeys/register/options', s.accessToken);
    expect(gated.statusCode, gated.body).toBe(401);
    expect(gated.data.error).toBe('totp_required');

    expect((await post('/auth/mfa/verify', s.accessToken, { code: nextCode(t, secret) })).statusCode).toBe(200);
    const opts = await post('/auth/passkeys/register/options', s.accessToken);
    expect(opts.statusCode, opts.body).toBe(200);
    const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: 'app.example' });
    const reg = await post('/auth/passkeys/register/verify', s.accessToken, auth.register(opts.data));
    expect(reg.statusCode, reg.body).toBe(201);

    const sessionsBefore = (await t.deps.services.sessions.list((await t.deps.tenants.defaultTenant()).id, u.userId)).length;
    const lo = await post('/auth/passkeys/login/options', undefined, {});
    const login = await post('/auth/passkeys/login/verify', undefined, auth.login(lo.data));
    expect(login.statusCode, login.body).toBe(200);
    expect(login.data).toEqual({ mfaRequired: true, mfaToken: expect.any(String), userId: u.userId });
    expect(login.headers['set-cookie']).toBeUndefined();
    expect((await t.deps.services.sessions.list((await t.deps.tenants.defaultTenant()).id, u.userId)).length).toBe(sessionsBefore);

    const done = await post('/auth/login/mfa', undefined, { mfaToken: login.data.mfaToken, code: nextCode(t, secret) });
    expect(done.statusCode, done.body).toBe(200);
    expect(amrOf(done.data.tokens.accessToken).sort()).toEqual(['hwk', 'otp']);
  });

  it('linking a wallet needs a step-up for a user with MFA', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const s = await freshSessionWithoutStepUp(t, u.email, secret);
    const w = newWallet();
    const c = await post('/auth/solana/challenge', s.accessToken, { publicKey: w.publicKey, purpose: 'link' });
    expect(c.statusCode, c.body).toBe(200);
    const gated = await post('/auth/solana/link', s.accessToken, { publicKey: w.publicKey, signature: w.sign(c.data.message) });
    expect(gated.statusCode, gated.body).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    expect((await post('/auth/mfa/verify', s.accessToken, { code: nextCode(t, secret) })).statusCode).toBe(200);
    const ok = await post('/auth/solana/link', s.accessToken, { publicKey: w.publicKey, signature: w.sign(c.data.message) });
    expect(ok.statusCode, ok.body).toBe(200);
  });
});
