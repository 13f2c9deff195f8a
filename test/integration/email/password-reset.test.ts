import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { linkIn, readOutbox, tokenIn } from '../../helpers/mail.js';
import { GENERIC, linkHelpers, PASSWORD, startLinkApp } from '../../helpers/email-links.js';
import { userStore } from '../../../src/modules/users/store.js';

/** Password reset by emailed link (SECURITY PWD-05, PWD-07, PWD-08, SES-03). */
const REDIRECT = 'https://app.example.com/reset';
const NEW_PASSWORD = 'a much better passphrase 2025';

let t: TestApp;
let defaultId: string;
beforeAll(async () => { ({ t, defaultId } = await startLinkApp({ redirectUrl: REDIRECT, tenants: [{ slug: 'pr-t2', name: 'T2' }] })); });
afterAll(async () => { await t?.close(); });

const { address, drain, outbox, count, audit, register, tokenByMail } = linkHelpers(() => ({ t, defaultId }), 'reset');

const forgot = (email: unknown, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email, ...extra }, headers });
const reset = (token: unknown, password: unknown = NEW_PASSWORD, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password }, headers });
const login = (email: string, password: string) => call(t.app, { method: 'POST', url: '/auth/login', json: { email, password } });
const resetToken = tokenByMail(forgot);

describe('PWD-05 /password/forgot answers the same for every address', () => {
  it('known, unknown and disabled addresses: same status and body; mail only to the known active account', async () => {
    const known = await register();
    const disabled = await register();
    await t.deps.sql.tx(defaultId, (tx) => userStore.setDisabled(tx, disabled.userId, true, t.clock.now()));
    const unknown = address();
    const answers = [await forgot(known.email), await forgot(unknown), await forgot(disabled.email)];
    for (const a of answers) {
      expect(a.statusCode).toBe(202);
      const { requestId, ...body } = a.data;
      expect(body).toEqual(GENERIC);
    }
    await drain();
    expect(outbox(known.email)).toHaveLength(1);
    expect(outbox(unknown)).toHaveLength(0);
    expect(outbox(disabled.email)).toHaveLength(0);
    expect(await count('one_time_tokens', 'lower(email) = lower($1)', [unknown])).toBe(0);
    const outcomes = (await audit('password.reset_request')).filter((e) => [known.email, unknown, disabled.email].includes((e.metadata as { email: string }).email))
      .map((e) => (e.metadata as { outcome: string }).outcome).sort();
    expect(outcomes).toEqual(['disabled', 'no_account', 'sent']);
  });
});

describe('PWD-07 password reset', () => {
  it('sets the password, ends every session, never signs in; the replay is 401', async () => {
    const u = await register();
    const other = await login(u.email, PASSWORD);
    const token = await resetToken(u.email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits

    const res = await reset(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.data).sort()).toEqual(['message']);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');

    for (const at of [u.accessToken, other.data.tokens.accessToken]) {
      expect((await call(t.app, { method: 'GET', url: '/auth/user', token: at })).statusCode).toBe(401);
    }
    for (const rt of [u.refreshToken, other.data.tokens.refreshToken]) {
      expect((await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: rt } })).statusCode).toBe(401);
    }
    expect((await login(u.email, PASSWORD)).statusCode).toBe(401);
    const fresh = await login(u.email, NEW_PASSWORD);
    expect(fresh.statusCode).toBe(200);
    expect(fresh.data.user.emailVerified).toBe(true);

    const replay = await reset(token, 'yet another good passphrase');
    expect(replay.statusCode).toBe(401);
    expect(replay.data).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/already been used/) });
    expect((await login(u.email, NEW_PASSWORD)).statusCode).toBe(200);
    const events = (await audit('password.reset')).filter((e) => e.target === u.userId || e.actor_id === u.userId);
    expect(events.some((e) => e.outcome === 'success')).toBe(true);
  });

  it('a refused new password is 400 and does not use up the link', async () => {
    const u = await register();
    const token = await resetToken(u.email);
    for (const weak of ['short', 'password123', 'aaaaaaaaaaaa', 'x'.repeat(300)]) {
      const res = await reset(token, weak);
      expect(res.statusCode, weak).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
    expect((await reset(token)).statusCode).toBe(200);
  });

  it('works within the hour and is 401 (expired) after it', async () => {
    const a = await register();
    const b = await register();
    const ta = await resetToken(a.email);
    const tb = await resetToken(b.email);
    t.clock.advance(60 * 60_000 - 1000);
    expect((await reset(ta)).statusCode).toBe(200);
    t.clock.advance(2000);
    const res = await reset(tb);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toMatch(/expired/);
    expect((await login(b.email, PASSWORD)).statusCode).toBe(200);
  });

  it('a token of T sent to T2, a changed last character, or a magic-link token: 401, and nothing is used up', async () => {
    const u = await register();
    const token = await resetToken(u.email);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect((await reset(token, NEW_PASSWORD, { 'x-tenant-id': 'pr-t2' })).statusCode).toBe(401);
    expect((await reset(`${token.slice(0, -1)}${last}`)).statusCode).toBe(401);
    await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email: u.email } });
    await drain();
    const magic = tokenIn(outbox(u.email).at(-1)!.text);
    expect(outbox(u.email).at(-1)!.subject).toMatch(/sign-in link/);
    expect((await reset(magic)).statusCode).toBe(401);
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
    expect((await reset(token)).statusCode).toBe(200);
  });

  it('requesting twice: the older link is 401, the newer works', async () => {
    const u = await register();
    const first = await resetToken(u.email);
    const second = await resetToken(u.email);
    expect((await reset(first)).statusCode).toBe(401);
    expect((await reset(second)).statusCode).toBe(200);
  });

  it('five parallel resets with one token: exactly one succeeds', async () => {
    const u = await register();
    const token = await resetToken(u.email);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => reset(token, `parallel passphrase number ${i}`)));
    const ok = results.map((r, i) => [r.statusCode, i] as const).filter(([s]) => s === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(4);
    expect((await login(u.email, `parallel passphrase number ${ok[0]![1]}`)).statusCode).toBe(200);
  });

  it('a password-less account may set one only where password sign-up is allowed', async () => {
    // magic-link sign-up makes an account without a password
    const email = address();
    await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email } });
    await drain();
    expect((await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token: tokenIn(outbox(email).at(-1)!.text) } })).statusCode).toBe(200);
    const token = await resetToken(email);
    expect((await reset(token)).statusCode).toBe(200);
    expect((await login(email, NEW_PASSWORD)).statusCode).toBe(200);
  });
});

describe('PWD-08 links are built from PUBLIC_URL or an allowed redirectUrl', () => {
  it('ignores Host and X-Forwarded-Host', async () => {
    const u = await register();
    for (const headers of [{ host: 'evil.example' }, { 'x-forwarded-host': 'evil.example' }] as Record<string, string>[]) {
      await resetToken(u.email, headers);
      const mail = outbox(u.email).at(-1)!;
      expect(linkIn(mail.text).startsWith(`${TEST_PUBLIC_URL}/auth/ui/reset-password?token=`)).toBe(true);
      expect(`${mail.text}${mail.html}`).not.toContain('evil.example');
    }
  });

  it('tells a reader who did not ask for a reset to ignore the mail, in the text and the HTML part', async () => {
    const u = await register();
    await resetToken(u.email);
    const mail = outbox(u.email).at(-1)!;
    const line = 'If you did not ask to reset your password, ignore this email — nothing will change and your password stays as it is.';
    expect(mail.text).toContain(line);
    expect(mail.html).toContain(line);
  });

  it('uses an allowed redirectUrl and refuses others with 400', async () => {
    const u = await register();
    expect((await forgot(u.email, {}, { redirectUrl: REDIRECT })).statusCode).toBe(202);
    await drain();
    expect(linkIn(outbox(u.email).at(-1)!.text).startsWith(`${REDIRECT}?token=`)).toBe(true);
    const res = await forgot(u.email, {}, { redirectUrl: 'https://evil.example/reset' });
    expect(res.statusCode).toBe(400);
  });
});

describe('bad input: 400 and nothing created, changed or sent', () => {
  it('on /password/forgot and /password/reset', async () => {
    const u = await register();
    const token = await resetToken(u.email);
    const before = { tokens: await count('one_time_tokens'), mails: readOutbox(t.config.dataDir).length };
    for (const json of [{}, { email: 1 }, { email: ['a@x.test'] }, { email: 'nope' }, { email: 'a@x.test, b@y.test' }, { email: `${'a'.repeat(300)}@x.test` }, { email: u.email, admin: true }]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/password/forgot', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 60)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    for (const json of [{}, { token }, { password: NEW_PASSWORD }, { token: 1, password: NEW_PASSWORD }, { token, password: 12345678 }, { token, password: 'x'.repeat(5000) },
      { token: 'x'.repeat(1000), password: NEW_PASSWORD }, { token, password: NEW_PASSWORD, email: u.email }, { token, password: null }]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/password/reset', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 60)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    await drain();
    expect({ tokens: await count('one_time_tokens'), mails: readOutbox(t.config.dataDir).length }).toEqual(before);
    expect((await login(u.email, PASSWORD)).statusCode).toBe(200);
    expect((await reset(token)).statusCode).toBe(200);
  });
});
