import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import {
  codeNow, enableMfa, freshSessionWithoutStepUp, loginForMfaToken, MFA_TEST_ENV, nextCode, register,
} from '../integration/mfa/mfa-helpers.js';

/** SECURITY MFA-03: second-factor guessing is limited per user (5 wrong codes per 5 minutes), whatever the token or IP. */
let t: TestApp;
beforeAll(async () => { t = await createTestApp({ env: MFA_TEST_ENV }); });
afterAll(async () => { await t?.close(); });

const IPS = ['203.0.113.10', '203.0.113.11', '203.0.113.12'];
/** A 6-digit code that is neither the current nor the previous one. */
const wrongCode = (secret: string) => {
  const now = codeNow(t, secret);
  for (let i = 0; ; i++) {
    const c = String(100000 + i);
    if (c !== now) return c;
  }
};
const loginMfa = (json: Record<string, unknown>, ip: string) => call(t.app, { method: 'POST', url: '/auth/login/mfa', json, remoteAddress: ip });

describe('MFA-03 at /login/mfa', () => {
  it('after 5 wrong codes across 3 mfaTokens and 3 IPs, even the right TOTP and a recovery code get 429 until the window passes', async () => {
    const u = await register(t);
    const { secret, recoveryCodes } = await enableMfa(t, u.accessToken);
    t.clock.advance(30_000);
    const tokens = await Promise.all(IPS.map((ip) => loginForMfaToken(t, u.email, {}, ip)));
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await loginMfa({ mfaToken: tokens[i % 3], code: wrongCode(secret) }, IPS[i % 3]!);
      seen.push(res.statusCode);
    }
    expect(seen).toEqual([401, 401, 401, 401, 401, 429]);
    const right = await loginMfa({ mfaToken: tokens[0], code: codeNow(t, secret) }, '203.0.113.99');
    expect(right.statusCode).toBe(429);
    expect(right.data.error).toBe('rate_limited');
    expect(right.data.retryAfter).toBeGreaterThan(0);
    expect(Number(right.headers['retry-after'])).toBe(right.data.retryAfter);
    const rec = await loginMfa({ mfaToken: tokens[1], recoveryCode: recoveryCodes[0] }, '203.0.113.98');
    expect(rec.statusCode).toBe(429);
    // the refused attempts used nothing up: the recovery code is still unused
    expect((await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: u.accessToken })).data.recoveryCodesRemaining).toBe(10);
    const limited = (await t.deps.audit.list({ action: 'mfa.rate_limited', limit: 50 })).items.filter((r) => r.target === u.userId);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect((await t.deps.audit.list({ action: 'mfa.login', actorId: u.userId, limit: 50 })).items.filter((r) => r.outcome === 'failure').length).toBe(5);

    // after the window: the right code works again (the mfaTokens are 5 minutes old by then: sign in again)
    t.clock.advance(10 * 60_000);
    const fresh = await loginForMfaToken(t, u.email);
    const ok = await loginMfa({ mfaToken: fresh, code: codeNow(t, secret) }, IPS[0]!);
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('the count is for wrong codes in a row: a right code clears it', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const m = await loginForMfaToken(t, u.email);
    for (let i = 0; i < 4; i++) expect((await loginMfa({ mfaToken: m, code: wrongCode(secret) }, IPS[0]!)).statusCode).toBe(401);
    expect((await loginMfa({ mfaToken: m, code: nextCode(t, secret) }, IPS[0]!)).statusCode).toBe(200);
    const m2 = await loginForMfaToken(t, u.email);
    for (let i = 0; i < 4; i++) expect((await loginMfa({ mfaToken: m2, code: wrongCode(secret) }, IPS[1]!)).statusCode).toBe(401);
    expect((await loginMfa({ mfaToken: m2, code: nextCode(t, secret) }, IPS[1]!)).statusCode).toBe(200);
  });

  it('the limit of one user does not touch another user', async () => {
    const a = await register(t);
    const { secret: sa } = await enableMfa(t, a.accessToken);
    const b = await register(t);
    const { secret: sb } = await enableMfa(t, b.accessToken);
    const ma = await loginForMfaToken(t, a.email);
    for (let i = 0; i < 6; i++) await loginMfa({ mfaToken: ma, code: wrongCode(sa) }, IPS[2]!);
    expect((await loginMfa({ mfaToken: ma, code: nextCode(t, sa) }, IPS[2]!)).statusCode).toBe(429);
    const mb = await loginForMfaToken(t, b.email);
    expect((await loginMfa({ mfaToken: mb, code: codeNow(t, sb) }, IPS[2]!)).statusCode).toBe(200);
  });
});

describe('MFA-03 is one count per user across every verifier', () => {
  it('wrong codes at /totp/complete, /mfa/verify and /mfa/recovery add up; then the right code at /totp/complete gets 429', async () => {
    const u = await register(t);
    const { secret, recoveryCodes } = await enableMfa(t, u.accessToken);
    const s = await freshSessionWithoutStepUp(t, u.email, secret);
    const g = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: s.accessToken });
    const complete = (code: string) => call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g.data.challenge, code } });
    expect((await complete(wrongCode(secret))).statusCode).toBe(401);
    expect((await complete(wrongCode(secret))).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: wrongCode(secret) } })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery', token: s.accessToken, json: { code: 'ZZZZ-ZZZZ-ZZZZ-ZZZZ' } })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: s.accessToken, json: { code: wrongCode(secret) } })).data.error).toBe('totp_required');
    expect((await complete(wrongCode(secret))).statusCode).toBe(401);
    const right = await complete(nextCode(t, secret));
    expect(right.statusCode).toBe(429);
    expect(right.data.error).toBe('rate_limited');
    const verify = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: nextCode(t, secret) } });
    expect(verify.statusCode).toBe(429);
    const recovery = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery', token: s.accessToken, json: { code: recoveryCodes[0] } });
    expect(recovery.statusCode).toBe(429);
  });
});
