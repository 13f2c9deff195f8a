import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { totpAt } from '../../src/modules/mfa/totp.js';
import {
  codeNow, enableMfa, freshSessionWithoutStepUp, loginForMfaToken, MFA_TEST_ENV, nextCode, register,
} from '../integration/mfa/mfa-helpers.js';

/** SECURITY MFA-02 (a code works once, shared by every verifier) and MFA-06 step 4, with races on one and two instances. */
let t: TestApp;
let second: Awaited<ReturnType<TestApp['second']>>;
beforeAll(async () => {
  t = await createTestApp({ env: MFA_TEST_ENV });
  second = await t.second();
});
afterAll(async () => { await t?.close(); });

const loginMfa = (json: Record<string, unknown>, app = t.app) => call(app, { method: 'POST', url: '/auth/login/mfa', json });
const statuses = (rs: { statusCode: number }[]) => rs.map((r) => r.statusCode).sort();

describe('MFA-02 a TOTP code works once', () => {
  it('the same code on a second mfaToken is refused; so is the previous step once a later one was used', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const c = nextCode(t, secret);
    expect((await loginMfa({ mfaToken: await loginForMfaToken(t, u.email), code: c })).statusCode).toBe(200);
    const again = await loginMfa({ mfaToken: await loginForMfaToken(t, u.email), code: c });
    expect(again.statusCode).toBe(401);
    expect(again.data.error).toBe('invalid_code');
    // T-1 after T was used: the last used step only moves forward
    const prev = totpAt(secret, Math.floor(t.clock.nowMs() / 1000) - 30);
    const back = await loginMfa({ mfaToken: await loginForMfaToken(t, u.email), code: prev });
    expect(back.statusCode).toBe(401);
  });

  it('the code used at /mfa/enable does not work at /login/mfa', async () => {
    const u = await register(t);
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const c = nextCode(t, setup.data.secret);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: c } })).statusCode).toBe(200);
    expect((await loginMfa({ mfaToken: await loginForMfaToken(t, u.email), code: c })).statusCode).toBe(401);
  });

  it('a code consumed at /totp/complete is refused at /mfa/verify (and the other way round)', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const s = await freshSessionWithoutStepUp(t, u.email, secret);
    const gated = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: s.accessToken });
    const c = nextCode(t, secret);
    expect((await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: gated.data.challenge, code: c } })).statusCode).toBe(200);
    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: c } });
    expect(v.statusCode).toBe(401);
    expect(v.data.error).toBe('invalid_code');

    const g2 = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: s.accessToken });
    expect(g2.data.error).toBe('totp_required');
    const c2 = nextCode(t, secret);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: c2 } })).statusCode).toBe(200);
    const reuse = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g2.data.challenge, code: c2 } });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.data.error).toBe('invalid_code');
  });
});

describe('races: N parallel requests, exactly one wins', () => {
  it('the same fresh code on parallel /login/mfa requests with different mfaTokens (two instances)', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const tokens = await Promise.all([0, 1, 2, 3].map(() => loginForMfaToken(t, u.email)));
    const c = nextCode(t, secret);
    const rs = await Promise.all(tokens.map((m, i) => loginMfa({ mfaToken: m, code: c }, i % 2 ? second.app : t.app)));
    expect(statuses(rs)).toEqual([200, 401, 401, 401]);
  });

  it('one mfaToken sent in parallel with different valid factors gives exactly one session', async () => {
    const u = await register(t);
    const { secret, recoveryCodes } = await enableMfa(t, u.accessToken);
    const m = await loginForMfaToken(t, u.email);
    const before = (await t.deps.services.sessions.list((await t.deps.tenants.defaultTenant()).id, u.userId)).length;
    const c = nextCode(t, secret);
    const rs = await Promise.all([
      loginMfa({ mfaToken: m, code: c }),
      loginMfa({ mfaToken: m, recoveryCode: recoveryCodes[0] }, second.app),
      loginMfa({ mfaToken: m, recoveryCode: recoveryCodes[1] }),
    ]);
    expect(rs.filter((r) => r.statusCode === 200)).toHaveLength(1);
    for (const r of rs.filter((x) => x.statusCode !== 200)) expect(r.data.error).toBe('invalid_token');
    const after = (await t.deps.services.sessions.list((await t.deps.tenants.defaultTenant()).id, u.userId)).length;
    expect(after).toBe(before + 1);
  });

  it('the same code on parallel /mfa/verify requests', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const c = nextCode(t, secret);
    const rs = await Promise.all([0, 1, 2, 3].map((i) => call(i % 2 ? second.app : t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, json: { code: c } })));
    expect(statuses(rs)).toEqual([200, 401, 401, 401]);
  });

  it('MFA-06 step 4: one recovery code submitted in parallel', async () => {
    const u = await register(t);
    const { recoveryCodes } = await enableMfa(t, u.accessToken);
    const tokens = await Promise.all([0, 1, 2].map(() => loginForMfaToken(t, u.email)));
    const rs = await Promise.all(tokens.map((m, i) => loginMfa({ mfaToken: m, recoveryCode: recoveryCodes[5] }, i % 2 ? second.app : t.app)));
    expect(statuses(rs)).toEqual([200, 401, 401]);
    const st = await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: u.accessToken });
    expect(st.data.recoveryCodesRemaining).toBe(9);
    const rec = await Promise.all([0, 1, 2].map((i) => call(i % 2 ? second.app : t.app, { method: 'POST', url: '/auth/mfa/recovery', token: u.accessToken, json: { code: recoveryCodes[6] } })));
    expect(statuses(rec)).toEqual([200, 401, 401]);
  });

  it('one completed challenge on parallel retries passes the gate once', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const s = await freshSessionWithoutStepUp(t, u.email, secret);
    const g = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: s.accessToken });
    expect(g.data.error).toBe('totp_required');
    expect((await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g.data.challenge, code: nextCode(t, secret) } })).statusCode).toBe(200);
    const rs = await Promise.all([0, 1, 2, 3].map((i) => call(i % 2 ? second.app : t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: s.accessToken, headers: { 'x-totp-challenge': g.data.challenge } })));
    expect(statuses(rs)).toEqual([200, 401, 401, 401]);
    for (const r of rs.filter((x) => x.statusCode === 401)) expect(r.data.error).toBe('totp_required');
  });

  it('parallel /mfa/enable with one code enables once and issues one set of recovery codes', async () => {
    const u = await register(t);
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const c = nextCode(t, setup.data.secret);
    const rs = await Promise.all([0, 1, 2].map((i) => call(i % 2 ? second.app : t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: c } })));
    const ok = rs.filter((r) => r.statusCode === 200);
    expect(ok).toHaveLength(1);
    const { rows } = await t.deps.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1', [u.userId]);
    expect(rows[0]!.n).toBe(10);
    // the issued codes are the stored ones
    const m = await loginForMfaToken(t, u.email);
    expect((await loginMfa({ mfaToken: m, recoveryCode: ok[0]!.data.recoveryCodes[9] })).statusCode).toBe(200);
    expect(codeNow(t, setup.data.secret)).toBe(c);
  });
});
