import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import {
  amrOf, auditOf, codeNow, countRows, enableMfa, loginForMfaToken, loginWithMfa, MFA_TEST_ENV, nextCode, PASSWORD, register,
} from './mfa-helpers.js';

/** The whole MFA path through HTTP: enrolment, sign-in, the gate with a challenge, step-up, recovery codes, disable. */
let t: TestApp;
beforeAll(async () => { t = await createTestApp({ env: MFA_TEST_ENV }); });
afterAll(async () => { await t?.close(); });

const status = async (token: string) => (await call(t.app, { method: 'GET', url: '/auth/mfa/status', token })).data;

describe('end to end: setup → enable → login needs MFA → /login/mfa → gated route → challenge → complete → retry', () => {
  it('runs the documented flow, and the same challenge cannot be used twice', async () => {
    const u = await register(t);
    expect(await status(u.accessToken)).toEqual({ enabled: false, recoveryCodesRemaining: 0 });

    // 1. setup: a secret, its otpauth URI and a QR code; nothing enabled yet
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    expect(setup.statusCode, setup.body).toBe(200);
    expect(setup.headers['cache-control']).toBe('no-store');
    const { secret, otpauthUri, qrCodeDataUrl } = setup.data;
    expect(secret).toMatch(/^[A-Z2-7]{32,}$/); // base32 of ≥ 20 bytes
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Default:[^?]+\?secret=[A-Z2-7]+&issuer=Default&algorithm=SHA1&digits=6&period=30$/);
    expect(new URL(otpauthUri).searchParams.get('secret')).toBe(secret);
    expect(decodeURIComponent(otpauthUri)).toContain(u.email);
    expect(qrCodeDataUrl).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(qrCodeDataUrl.split(',')[1], 'base64').toString()).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(await status(u.accessToken)).toEqual({ enabled: false, recoveryCodesRemaining: 0 });
    const plain = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(plain.data.tokens, 'a pending setup does not turn MFA on').toBeDefined();

    // 2. enable: a wrong code is refused, a current one turns MFA on and returns ten recovery codes
    const wrong = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: codeNow(t, secret) === '000000' ? '111111' : '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.data.error).toBe('invalid_code');
    const enable = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: nextCode(t, secret) } });
    expect(enable.statusCode, enable.body).toBe(200);
    expect(enable.data.enabled).toBe(true);
    expect(enable.data.recoveryCodes).toHaveLength(10);
    expect(await status(u.accessToken)).toEqual({ enabled: true, recoveryCodesRemaining: 10 });

    // 3. login: MfaRequiredResponse, no tokens, no cookies
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(login.statusCode).toBe(200);
    expect(login.data).toEqual({ mfaRequired: true, mfaToken: expect.stringMatching(/^mfa_/), userId: u.userId });
    expect(login.headers['set-cookie']).toBeUndefined();

    // 4. /login/mfa with the next code → AuthResponse, amr pwd + otp
    const done = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: login.data.mfaToken, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.data.user.id).toBe(u.userId);
    expect(amrOf(done.data.tokens.accessToken).sort()).toEqual(['otp', 'pwd']);
    expect(([] as string[]).concat(done.headers['set-cookie'] ?? []).some((c) => c.startsWith('__Host-ap_access='))).toBe(true);
    const at = done.data.tokens.accessToken as string;

    // 5. a gated route right after an MFA sign-in passes (the sign-in counts as a step-up for 5 minutes)…
    const fresh = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: at });
    expect(fresh.statusCode, fresh.body).toBe(200);
    expect(fresh.data.recoveryCodes).toHaveLength(10);
    // …and 5 minutes later it challenges
    t.clock.advance(5 * 60_000 + 1_000);
    const gated = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: at });
    expect(gated.statusCode).toBe(401);
    expect(gated.data).toMatchObject({ error: 'totp_required', challenge: expect.stringMatching(/^ch_[A-Za-z0-9_-]{43}$/), message: expect.stringContaining('/totp/complete') });
    const ch = gated.data.challenge as string;

    // 6. complete the challenge, then repeat the request with X-TOTP-Challenge
    const complete = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: at, json: { challenge: ch, code: nextCode(t, secret) } });
    expect(complete.statusCode, complete.body).toBe(200);
    expect(complete.data).toMatchObject({ completed: true, method: 'POST', path: '/auth/mfa/recovery-codes' });
    const retry = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: at, headers: { 'x-totp-challenge': ch } });
    expect(retry.statusCode, retry.body).toBe(200);
    const codesAfterRetry = retry.data.recoveryCodes as string[];

    // 7. the same challenge again fails (and gives a new challenge); nothing ran
    const again = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: at, headers: { 'x-totp-challenge': ch } });
    expect(again.statusCode).toBe(401);
    expect(again.data.error).toBe('totp_required');
    expect(again.data.challenge).not.toBe(ch);
    // the codes from the retry still work: the refused request did not replace them
    const mfaToken = await loginForMfaToken(t, u.email);
    const viaRecovery = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken, recoveryCode: codesAfterRetry[0] } });
    expect(viaRecovery.statusCode, viaRecovery.body).toBe(200);

    // 8. completing a challenge is not a session step-up: the next gated call challenges again
    const next = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: at });
    expect(next.statusCode).toBe(401);
    expect(next.data.error).toBe('totp_required');

    const actions = (await t.deps.audit.list({ actorId: u.userId, limit: 200 })).items.map((r) => r.action);
    for (const a of ['mfa.setup', 'mfa.enable', 'auth.mfa_required', 'mfa.login', 'mfa.step_up_required', 'mfa.challenge.complete', 'mfa.challenge.use', 'mfa.recovery_codes.regenerate', 'mfa.recovery_code.use']) {
      expect(actions, a).toContain(a);
    }
  });
});

describe('step-up with /mfa/verify (MFA-10)', () => {
  it('marks the session for 5 minutes and mints a token with otp in amr; after 5 min 1 s the gate challenges again', async () => {
    const u = await register(t);
    expect(amrOf(u.accessToken)).toEqual(['pwd']);
    const { secret } = await enableMfa(t, u.accessToken);
    // the password-only session of before MFA has no step-up: gated
    const before = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: u.accessToken });
    expect(before.data.error).toBe('totp_required');

    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, json: { code: nextCode(t, secret) } });
    expect(v.statusCode, v.body).toBe(200);
    expect(amrOf(v.data.accessToken)).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(Date.parse(v.data.stepUpExpiresAt) - t.clock.nowMs()).toBe(5 * 60_000);
    // old and new tokens of the session both pass the gate now (the mark is on the session)
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: v.data.accessToken })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: u.accessToken })).statusCode).toBe(200);
    // the amr sticks to the session: a refresh keeps otp
    const ref = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: u.refreshToken } });
    expect(amrOf(ref.data.tokens.accessToken)).toContain('otp');

    t.clock.advance(4 * 60_000);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: v.data.accessToken })).statusCode).toBe(200);
    t.clock.advance(60_000 + 1_000);
    const after = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: v.data.accessToken });
    expect(after.statusCode).toBe(401);
    expect(after.data.error).toBe('totp_required');
  });

  it('a wrong code does not step up', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const right = nextCode(t, secret);
    const wrong = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, json: { code: right === '000000' ? '000001' : '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.data.error).toBe('invalid_code');
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: u.accessToken })).data.error).toBe('totp_required');
  });
});

describe('recovery codes (MFA-06)', () => {
  it('sign in with one, each works once, the count goes down, /mfa/recovery steps up with another', async () => {
    const u = await register(t);
    const { recoveryCodes } = await enableMfa(t, u.accessToken);
    for (const c of recoveryCodes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);

    const r1 = recoveryCodes[0]!;
    const m1 = await loginForMfaToken(t, u.email);
    const ok = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: m1, recoveryCode: r1.toLowerCase() } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(amrOf(ok.data.tokens.accessToken)).toContain('otp');
    const m2 = await loginForMfaToken(t, u.email);
    const reuse = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: m2, recoveryCode: r1 } });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.data.error).toBe('invalid_code');
    expect(await status(u.accessToken)).toEqual({ enabled: true, recoveryCodesRemaining: 9 });

    const rec = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery', token: u.accessToken, json: { code: recoveryCodes[1] } });
    expect(rec.statusCode, rec.body).toBe(200);
    expect(rec.data.recoveryCodesRemaining).toBe(8);
    expect(amrOf(rec.data.accessToken)).toContain('otp');
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: u.accessToken })).statusCode).toBe(200);
    expect(await status(u.accessToken)).toEqual({ enabled: true, recoveryCodesRemaining: 10 });

    // a used code is counted in the audit log; no code appears in it
    const uses = (await auditOf(t, 'mfa.recovery_code.use')).filter((r) => r.actor_id === u.userId);
    expect(uses.length).toBe(2);
    const dump = JSON.stringify((await t.deps.audit.list({ actorId: u.userId, limit: 200 })).items);
    for (const c of recoveryCodes) {
      expect(dump).not.toContain(c);
      expect(dump).not.toContain(c.replace(/-/g, ''));
    }
    const user = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(user.body).not.toMatch(/recovery|secret/i);
  });
});

describe('disable (MFA-07)', () => {
  it('needs valid input (400), the gate (401 totp_required), a code not used before; then old codes stop working', async () => {
    const u = await register(t);
    const { secret, recoveryCodes } = await enableMfa(t, u.accessToken);
    const other = await loginWithMfa(t, u.email, secret);
    t.clock.advance(5 * 60_000 + 1_000);

    const empty = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: {} });
    expect(empty.statusCode).toBe(400);
    expect(empty.data.error).toBe('validation_failed');
    const zeros = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: '000000' } });
    expect(zeros.statusCode).toBe(401);
    const valid = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: codeNow(t, secret) } });
    expect(valid.statusCode).toBe(401);
    expect(valid.data.error).toBe('totp_required');
    expect(await status(u.accessToken)).toMatchObject({ enabled: true });

    // step up, then a wrong code and the step-up code itself are refused; the next code works
    const stepCode = nextCode(t, secret);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, json: { code: stepCode } })).statusCode).toBe(200);
    const wrong = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: stepCode === '123456' ? '654321' : '123456' } });
    expect(wrong.data.error).toBe('invalid_code');
    const reused = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: stepCode } });
    expect(reused.data.error).toBe('invalid_code');
    const off = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: nextCode(t, secret) } });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.data).toEqual({ enabled: false, otherSessionsRevoked: expect.any(Number) });
    expect(off.data.otherSessionsRevoked).toBeGreaterThanOrEqual(1);
    expect(await status(u.accessToken)).toEqual({ enabled: false, recoveryCodesRemaining: 0 });
    expect(await countRows(t, 'user_mfa', 'user_id = $1', [u.userId])).toBe(0);
    expect(await countRows(t, 'mfa_recovery_codes', 'user_id = $1', [u.userId])).toBe(0);
    // SES-03: the other session ended
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: other.accessToken })).statusCode).toBe(401);

    // old TOTP and recovery codes: refused everywhere
    for (const [url, code] of [['/auth/mfa/verify', nextCode(t, secret)], ['/auth/mfa/recovery', recoveryCodes[0]], ['/auth/mfa/disable', recoveryCodes[1]]] as const) {
      const r = await call(t.app, { method: 'POST', url, token: u.accessToken, json: { code } });
      expect(r.statusCode, url).toBe(401);
      expect(r.data.error, url).toBe('invalid_code');
    }
    // login no longer asks for a second factor
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(login.data.tokens).toBeDefined();
  });

  it('a recovery code can disable MFA after a step-up with another recovery code (lost authenticator)', async () => {
    const u = await register(t);
    const { recoveryCodes } = await enableMfa(t, u.accessToken);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/recovery', token: u.accessToken, json: { code: recoveryCodes[2] } })).statusCode).toBe(200);
    const off = await call(t.app, { method: 'POST', url: '/auth/mfa/disable', token: u.accessToken, json: { code: recoveryCodes[3] } });
    expect(off.statusCode, off.body).toBe(200);
  });
});

describe('enable ends the user\'s other sessions (SES-03)', () => {
  it('keeps the current session and revokes the others', async () => {
    const u = await register(t);
    const second = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const en = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: nextCode(t, setup.data.secret) } });
    expect(en.data.otherSessionsRevoked).toBe(1);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: second.data.tokens.accessToken })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: second.data.tokens.refreshToken } })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(200);
  });
});

describe('setup while MFA is on (MFA-07, §D-13)', () => {
  it('answers 409 and the active secret keeps working; setup again while pending replaces the pending secret', async () => {
    const u = await register(t);
    const s1 = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const s2 = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    expect(s2.data.secret).not.toBe(s1.data.secret);
    const old = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: nextCode(t, s1.data.secret) } });
    expect(old.statusCode, 'the replaced pending secret is gone').toBe(401);
    const en = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: codeNow(t, s2.data.secret) } });
    expect(en.statusCode, en.body).toBe(200);

    const again = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    expect(again.statusCode).toBe(409);
    expect(again.data.error).toBe('conflict');
    expect(again.body).not.toContain(s2.data.secret);
    const enAgain = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: nextCode(t, s2.data.secret) } });
    expect(enAgain.statusCode).toBe(409);
    const s = await loginWithMfa(t, u.email, s2.data.secret);
    expect(s.accessToken).toBeTruthy();
  });

  it('the TOTP secret never appears in later responses, the audit log or the logs', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const s = await loginWithMfa(t, u.email, secret);
    const bodies = [
      (await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: s.accessToken })).body,
      (await call(t.app, { method: 'GET', url: '/auth/user', token: s.accessToken })).body,
      (await call(t.app, { method: 'GET', url: '/auth/sessions', token: s.accessToken })).body,
      (await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: s.accessToken })).body,
    ];
    for (const b of bodies) expect(b).not.toContain(secret);
    const audit = JSON.stringify((await t.deps.audit.list({ actorId: u.userId, limit: 200 })).items);
    expect(audit).not.toContain(secret);
    expect(t.logs.join('\n')).not.toContain(secret);
    // at rest: sealed, not the base32 text
    const { rows } = await t.deps.sql.ownerQuery<{ secret_sealed: string }>('SELECT secret_sealed FROM user_mfa WHERE user_id = $1', [u.userId]);
    expect(rows[0]!.secret_sealed).toMatch(/^v1\./);
    expect(rows[0]!.secret_sealed).not.toContain(secret);
  });
});

describe('bad input → 400 with nothing changed', () => {
  it('every MFA route refuses malformed bodies with validation_failed', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const mfaToken = await loginForMfaToken(t, u.email);
    const before = { f: await countRows(t, 'user_mfa'), r: await countRows(t, 'mfa_recovery_codes', 'used_at IS NULL') };
    const cases: [string, string, unknown][] = [
      ['POST', '/auth/mfa/setup', { extra: 1 }],
      ['POST', '/auth/mfa/enable', {}],
      ['POST', '/auth/mfa/enable', { code: 123456 }],
      ['POST', '/auth/mfa/enable', { code: '12345' }],
      ['POST', '/auth/mfa/enable', { code: '1234567' }],
      ['POST', '/auth/mfa/enable', { code: '12345a' }],
      ['POST', '/auth/mfa/disable', { code: 'nope' }],
      ['POST', '/auth/mfa/disable', { code: '123456', extra: true }],
      ['POST', '/auth/mfa/verify', { code: null }],
      ['POST', '/auth/mfa/verify', { code: ['123456'] }],
      ['POST', '/auth/mfa/recovery', { code: '123456' }],
      ['POST', '/auth/mfa/recovery', { code: 'AAAA-BBBB' }],
      ['POST', '/auth/mfa/recovery-codes', { code: '123456' }],
      ['POST', '/auth/login/mfa', { mfaToken }],
      ['POST', '/auth/login/mfa', { mfaToken, code: codeNow(t, secret), recoveryCode: 'AAAA-BBBB-CCCC-DDDD' }],
      ['POST', '/auth/login/mfa', { mfaToken: 'not-a-token', code: '123456' }],
      ['POST', '/auth/login/mfa', { mfaToken, code: '12 456' }],
      ['POST', '/auth/totp/complete', { challenge: 'ch_short', code: '123456' }],
      ['POST', '/auth/totp/complete', { challenge: `ch_${'a'.repeat(43)}` }],
    ];
    for (const [method, url, json] of cases) {
      const res = await call(t.app, { method: method as 'POST', url, json, token: url === '/auth/login/mfa' ? undefined : u.accessToken });
      expect(res.statusCode, `${url} ${JSON.stringify(json)}: ${res.body}`).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.message).toMatch(/\S/);
    }
    const notJson = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, payload: '{"code":', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    const badHeader = await call(t.app, { method: 'POST', url: '/auth/mfa/recovery-codes', token: u.accessToken, headers: { 'x-totp-challenge': 'garbage' } });
    expect(badHeader.statusCode).toBe(400);
    expect({ f: await countRows(t, 'user_mfa'), r: await countRows(t, 'mfa_recovery_codes', 'used_at IS NULL') }).toEqual(before);
    // the mfaToken survived the bad requests
    const ok = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken, code: nextCode(t, secret) } });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('MFA routes need a session: no credential → 401', async () => {
    for (const [method, url] of [['POST', '/auth/mfa/setup'], ['POST', '/auth/mfa/enable'], ['GET', '/auth/mfa/status'], ['POST', '/auth/mfa/verify'], ['POST', '/auth/totp/complete']] as const) {
      const res = await call(t.app, { method, url, ...(method === 'POST' ? { json: {} } : {}) });
      expect(res.statusCode, url).toBe(401);
    }
  });
});

describe('discovery and OpenAPI describe the MFA and gate flow for agents', () => {
  it('GET /auth/discovery has the mfa capability with sign-in, gate and step-up steps', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(res.statusCode).toBe(200);
    const mfa = res.data.capabilities.mfa;
    expect(mfa).toBeDefined();
    const text = JSON.stringify(mfa);
    for (const s of ['/auth/mfa/setup', '/auth/mfa/enable', '/auth/mfa/status', '/auth/login/mfa', '/auth/totp/complete', '/auth/mfa/verify',
      '/auth/mfa/recovery', '/auth/mfa/disable', 'mfaRequired', 'mfaToken', 'recoveryCode', 'totp_required', 'X-TOTP-Challenge', 'ch_', '403', '5 minutes', '429']) {
      expect(text, s).toContain(s);
    }
    expect(Array.isArray(mfa.gate.steps)).toBe(true);
    expect(mfa.gate.steps.length).toBeGreaterThanOrEqual(4);
  });

  it('openapi.json has every MFA operation with its statuses, and marks every gated operation', async () => {
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    const op = (path: string, method: string) => doc.paths[path]?.[method];
    for (const [path, method, id] of [
      ['/auth/mfa/setup', 'post', 'mfaSetup'], ['/auth/mfa/enable', 'post', 'mfaEnable'], ['/auth/mfa/disable', 'post', 'mfaDisable'],
      ['/auth/mfa/status', 'get', 'mfaStatus'], ['/auth/mfa/verify', 'post', 'mfaVerify'], ['/auth/mfa/recovery', 'post', 'mfaRecovery'],
      ['/auth/mfa/recovery-codes', 'post', 'mfaRegenerateRecoveryCodes'], ['/auth/login/mfa', 'post', 'loginMfa'], ['/auth/totp/complete', 'post', 'totpComplete'],
    ]) {
      expect(op(path!, method!)?.operationId, path).toBe(id);
    }
    expect(Object.keys(op('/auth/login/mfa', 'post').responses)).toEqual(expect.arrayContaining(['200', '400', '401', '429']));
    expect(JSON.stringify(op('/auth/login', 'post'))).toContain('MfaRequiredResponse');
    // every operation behind the gate says so, with the challenge flow, and declares 401 and 403
    const gated = [op('/auth/sessions', 'delete'), op('/auth/mfa/disable', 'post'), op('/auth/mfa/recovery-codes', 'post'), op('/auth/api-keys', 'post')];
    for (const g of gated) {
      expect(g.description).toMatch(/TOTP gate/);
      expect(g.description).toContain('X-TOTP-Challenge');
      expect(g.description).toContain('/auth/totp/complete');
      expect(Object.keys(g.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
    expect(op('/auth/mfa/status', 'get').description ?? '').not.toMatch(/TOTP gate/);
    expect(JSON.stringify(doc.components.schemas.Error)).toContain('challenge');
  });
});
