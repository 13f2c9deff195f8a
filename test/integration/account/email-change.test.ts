import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_PUBLIC_URL } from '../../helpers/app.js';
import { enableMfa, nextCode } from '../mfa/mfa-helpers.js';
import { GENERIC, PASSWORD, REDIRECT, startAccountApp, type Account } from './helpers.js';

/**
 * Changing the address of a signed-in account (issue 15; SECURITY PWD-09), mails through a real SMTP server:
 * a link to the new address, a notice with a 72-hour cancel/undo link to the old one, sessions ended on
 * confirmation, taken addresses, expired/used/foreign tokens, bad input, and the confirm/cancel races.
 */
let s: Awaited<ReturnType<typeof startAccountApp>>;
beforeAll(async () => { s = await startAccountApp({ smtp: true }); }, 240_000);
afterAll(async () => { await s?.close(); });

const requestChange = (token: string | undefined, json: unknown, headers: Record<string, string> = {}) =>
  call(s.t.app, { method: 'POST', url: '/auth/email/change', token, json, headers });
const confirm = (token: string, o: { bearer?: string; headers?: Record<string, string> } = {}) =>
  call(s.t.app, { method: 'POST', url: '/auth/email/change/confirm', json: { token }, token: o.bearer, headers: o.headers });
const cancel = (token: string, headers: Record<string, string> = {}) =>
  call(s.t.app, { method: 'POST', url: '/auth/email/change/cancel', json: { token }, headers });

/** Requests a change of `u` to `to` and returns the confirm token (mailed to `to`) and the cancel token (mailed to u.email). */
async function changeTokens(u: Account, to: string, extra: Record<string, unknown> = {}) {
  const mark = s.smtp!.messages.length;
  const res = await requestChange(u.accessToken, { newEmail: to, currentPassword: PASSWORD, ...extra });
  expect(res.statusCode, res.body).toBe(202);
  expect(res.data).toEqual(GENERIC);
  const toNew = await s.nextMail(to, mark);
  const toOld = await s.nextMail(u.email, mark);
  return { confirmToken: toNew.token, cancelToken: toOld.token, toNew, toOld };
}

describe('email change', () => {
  it('mails a link to the new address and a cancel notice to the old one; confirming switches (verified) and ends the other sessions', async () => {
    const u = await s.register();
    const other = await s.login(u.email);
    const to = s.address('new');
    const { confirmToken, toNew, toOld } = await changeTokens(u, to);
    expect(toNew.mail.to).toEqual([to]);
    expect(toNew.link.startsWith(`${TEST_PUBLIC_URL}/auth/ui/email-change/confirm?token=`)).toBe(true);
    expect(toNew.mail.decoded).toContain('expires in 1 hour');
    expect(toOld.mail.to).toEqual([u.email]);
    expect(toOld.link.startsWith(`${TEST_PUBLIC_URL}/auth/ui/email-change/cancel?token=`)).toBe(true);
    expect(toOld.mail.decoded).toContain('expires in 3 days');
    // nothing changes before the link is used
    expect((await s.storedEmail(u.userId)).email).toBe(u.email);

    const done = await confirm(confirmToken, { bearer: u.accessToken });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.data).toMatchObject({ email: to, emailVerified: true, sessionsEnded: 1 });
    expect(await s.emailOf(u.accessToken)).toMatchObject({ status: 200, email: to, emailVerified: true });
    expect((await s.emailOf(other.accessToken)).status).toBe(401);
    expect((await call(s.t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: other.refreshToken } })).statusCode).toBe(401);
    // the new address signs in; the old one no longer does
    expect((await call(s.t.app, { method: 'POST', url: '/auth/login', json: { email: to, password: PASSWORD } })).statusCode).toBe(200);
    expect((await call(s.t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } })).statusCode).toBe(401);
    // used → 401, saying so
    const again = await confirm(confirmToken);
    expect(again.statusCode).toBe(401);
    expect(again.data).toMatchObject({ error: 'invalid_token', message: expect.stringContaining('already been used') });
    const audit = (await s.t.deps.audit.list({ tenantId: s.defaultId, action: 'email.change', actorId: u.userId, limit: 10 })).items;
    expect(audit.map((a) => a.outcome)).toContain('success');
    expect(JSON.stringify(audit)).not.toContain(to);
  });

  it('the cancel link undoes a confirmed change: the old address is back and every session ends', async () => {
    const u = await s.register();
    const to = s.address('undo');
    const { confirmToken, cancelToken } = await changeTokens(u, to);
    expect((await confirm(confirmToken, { bearer: u.accessToken })).statusCode).toBe(200);
    const undo = await cancel(cancelToken);
    expect(undo.statusCode, undo.body).toBe(200);
    expect(undo.data).toMatchObject({ reverted: true, sessionsEnded: 1 });
    expect(await s.storedEmail(u.userId)).toEqual({ email: u.email, email_verified: true });
    expect((await s.emailOf(u.accessToken)).status).toBe(401);
    expect((await cancel(cancelToken)).statusCode).toBe(401);
  });

  it('cancelling before confirmation kills the confirm link (401) and changes nothing else', async () => {
    const u = await s.register();
    const { confirmToken, cancelToken } = await changeTokens(u, s.address('cx'));
    const c = await cancel(cancelToken);
    expect(c.statusCode, c.body).toBe(200);
    expect(c.data).toMatchObject({ reverted: false, pendingCancelled: 1, sessionsEnded: 0 });
    expect((await confirm(confirmToken)).statusCode).toBe(401);
    expect((await s.storedEmail(u.userId)).email).toBe(u.email);
    expect((await s.emailOf(u.accessToken)).status).toBe(200);
  });

  it('a newer request retires the older confirm link; the older cancel link still works', async () => {
    const u = await s.register();
    const first = await changeTokens(u, s.address('one'));
    const second = await changeTokens(u, s.address('two'));
    expect((await confirm(first.confirmToken)).statusCode).toBe(401);
    expect((await confirm(second.confirmToken, { bearer: u.accessToken })).statusCode).toBe(200);
    expect((await cancel(first.cancelToken)).data).toMatchObject({ reverted: true });
    expect((await s.storedEmail(u.userId)).email).toBe(u.email);
  });

  it('the old address gets at most 5 notices in 15 minutes, however many new addresses are asked for; the answer never changes', async () => {
    const u = await s.register();
    const mark = s.smtp!.messages.length;
    for (let i = 0; i < 6; i++) {
      const res = await requestChange(u.accessToken, { newEmail: s.address('flood'), currentPassword: PASSWORD });
      expect(res.statusCode).toBe(202);
      expect(res.data).toEqual(GENERIC);
    }
    await s.t.deps.services.mailer.drain();
    await new Promise((r) => setTimeout(r, 200));
    expect(s.smtp!.messages.slice(mark).filter((m) => m.to.includes(u.email))).toHaveLength(5);
  });

  it('an address held by another account: the same 202, a link is mailed, and confirming fails 409 with nothing changed', async () => {
    const holder = await s.register();
    const u = await s.register();
    const free = await requestChange(u.accessToken, { newEmail: s.address('free'), currentPassword: PASSWORD });
    const { confirmToken } = await changeTokens(u, holder.email.toUpperCase());
    expect(free.data).toEqual(GENERIC);
    const res = await confirm(confirmToken, { bearer: u.accessToken });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.data.error).toBe('email_taken');
    expect(res.data.message).not.toContain(holder.email);
    expect((await s.storedEmail(u.userId)).email).toBe(u.email);
    expect((await s.storedEmail(holder.userId)).email).toBe(holder.email);
    expect((await s.emailOf(u.accessToken)).status).toBe(200);
  });

  it('an expired confirm link (1 h) or cancel link (72 h) → 401 "expired"; the redirectUrl, when allowed, carries the token', async () => {
    const u = await s.register();
    const { confirmToken, toNew } = await changeTokens(u, s.address('exp'), { redirectUrl: REDIRECT });
    expect(toNew.link.startsWith(`${REDIRECT}?token=`)).toBe(true);
    s.t.clock.advance(60 * 60_000 + 1_000);
    const res = await confirm(confirmToken);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toContain('expired');
    expect((await s.storedEmail(u.userId)).email).toBe(u.email);
    // the cancel link lives 72 hours, then it is expired too
    const v = await s.register();
    const { cancelToken } = await changeTokens(v, s.address('exp72'));
    s.t.clock.advance(72 * 60 * 60_000 + 1_000);
    const late = await cancel(cancelToken);
    expect(late.statusCode).toBe(401);
    expect(late.data.message).toContain('expired');
  });

  it('hostile clients: another tenant, a made-up token, another user\'s cancel token used as a confirm token, API keys', async () => {
    const u = await s.register();
    const { confirmToken, cancelToken } = await changeTokens(u, s.address('hx'));
    expect((await confirm(confirmToken, { headers: { 'x-tenant-id': s.other.id } })).statusCode).toBe(401);
    expect((await cancel(cancelToken, { 'x-tenant-id': s.other.id })).statusCode).toBe(401);
    expect((await confirm(cancelToken)).statusCode).toBe(401);
    expect((await cancel(confirmToken)).statusCode).toBe(401);
    expect((await confirm('A'.repeat(43))).statusCode).toBe(401);
    // an API key cannot request a change; a session of another tenant's user is refused on ours
    expect((await call(s.t.app, { method: 'POST', url: '/auth/email/change', headers: { 'x-api-key': u.apiKey! }, json: { newEmail: s.address(), currentPassword: PASSWORD } })).statusCode).toBe(403);
    const v = await s.register(s.address('v'), s.other.id);
    expect((await requestChange(v.accessToken, { newEmail: s.address(), currentPassword: PASSWORD }, { 'x-tenant-id': s.defaultId })).statusCode).toBe(403);
    // the tokens survived all that
    expect((await confirm(confirmToken, { bearer: u.accessToken })).statusCode).toBe(200);
  });

  it('bad input → 400 with a clear message, and nothing is written or mailed', async () => {
    const u = await s.register();
    const mark = s.smtp!.messages.length;
    const tokensBefore = await s.count('one_time_tokens', 'user_id = $1', [u.userId]);
    const cases: [unknown, RegExp][] = [
      [{}, /newEmail/],
      [{ newEmail: 'not-an-address', currentPassword: PASSWORD }, /newEmail/],
      [{ newEmail: s.address(), currentPassword: PASSWORD, extra: 1 }, /extra|unrecognized/i],
      [{ newEmail: s.address() }, /currentPassword is required/],
      [{ newEmail: s.address(), currentPassword: '' }, /currentPassword/],
      [{ newEmail: u.email.toUpperCase(), currentPassword: PASSWORD }, /already the address/],
      [{ newEmail: s.address(), currentPassword: PASSWORD, redirectUrl: 'https://evil.example/' }, /redirectUrl/],
      [{ newEmail: 42, currentPassword: PASSWORD }, /newEmail/],
    ];
    for (const [json, msg] of cases) {
      const res = await requestChange(u.accessToken, json);
      expect(res.statusCode, `${JSON.stringify(json)}: ${res.body}`).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(JSON.stringify(res.data)).toMatch(msg);
    }
    for (const json of [{}, { token: '' }, { token: 5 }, { token: 'x'.repeat(600) }, { token: 'a', more: 1 }]) {
      for (const url of ['/auth/email/change/confirm', '/auth/email/change/cancel']) {
        const res = await call(s.t.app, { method: 'POST', url, json });
        expect(res.statusCode, `${url} ${JSON.stringify(json)}`).toBe(400);
        expect(res.data.message).toMatch(/\S/);
      }
    }
    const wrong = await requestChange(u.accessToken, { newEmail: s.address(), currentPassword: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.data.error).toBe('invalid_credentials');
    expect((await requestChange(undefined, { newEmail: s.address(), currentPassword: PASSWORD })).statusCode).toBe(401);
    await s.t.deps.services.mailer.drain();
    expect(s.smtp!.messages.length).toBe(mark);
    expect(await s.count('one_time_tokens', 'user_id = $1', [u.userId])).toBe(tokensBefore);
  });

  it('with MFA on, the request passes the TOTP gate first', async () => {
    const u = await s.register();
    const { secret } = await enableMfa(s.t, u.accessToken);
    s.t.clock.advance(5 * 60_000 + 1_000); // the enrolment's step-up lapses
    const json = { newEmail: s.address('mfa'), currentPassword: PASSWORD };
    const gated = await requestChange(u.accessToken, json);
    expect(gated.statusCode).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    const ch = gated.data.challenge as string;
    const done = await call(s.t.app, { method: 'POST', url: '/auth/totp/complete', token: u.accessToken, json: { challenge: ch, code: nextCode(s.t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const res = await requestChange(u.accessToken, json, { 'x-totp-challenge': ch });
    expect(res.statusCode, res.body).toBe(202);
  });

  it('the admin plane changes an address: verified, sessions ended; a taken address is 409; bad bodies 400', async () => {
    const adminKey = (await s.t.deps.adminKeys.create({ name: 'email-change', expiresInDays: 1 })).key;
    const u = await s.register();
    const holder = await s.register();
    const patch = (json: unknown) => call(s.t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, token: adminKey, json });
    const to = s.address('adm');
    const res = await patch({ email: to });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toMatchObject({ id: u.userId, email: to, emailVerified: true, disabled: false });
    expect((await s.emailOf(u.accessToken)).status).toBe(401);
    expect((await patch({ email: holder.email })).statusCode).toBe(409);
    for (const json of [{}, { email: 'nope' }, { email: to, extra: true }, { disabled: 'yes' }]) {
      const bad = await patch(json);
      expect(bad.statusCode, JSON.stringify(json)).toBe(400);
    }
    expect((await s.storedEmail(u.userId)).email).toBe(to);
    expect((await s.t.deps.audit.list({ tenantId: s.defaultId, action: 'user.email_change', limit: 5 })).items[0]?.target).toBe(u.userId);
  });
});

describe('discovery', () => {
  it('GET /auth/discovery describes email change, account deletion and data export', async () => {
    const res = await call(s.t.app, { method: 'GET', url: '/auth/discovery' });
    const c = res.data.capabilities;
    expect(c.emailChange).toMatchObject({ request: { method: 'POST', path: '/auth/email/change' }, confirm: { path: '/auth/email/change/confirm' }, cancel: { path: '/auth/email/change/cancel' } });
    expect(c.accountDeletion).toMatchObject({ deleteOwn: { method: 'DELETE', path: '/auth/user' }, adminDelete: { method: 'DELETE', path: '/auth/admin/users/{id}' } });
    expect(c.dataExport).toMatchObject({ export: { method: 'GET', path: '/auth/user/export' } });
    expect(c.admin.users.changeEmail).toMatchObject({ method: 'PATCH', body: { email: 'string' } });
  });
});

describe('email change races (zero survivors)', () => {
  const TRIALS = 8;
  it(`double confirm: exactly one of two concurrent confirms wins (${TRIALS} trials)`, async () => {
    for (let i = 0; i < TRIALS; i++) {
      const u = await s.register();
      const { confirmToken } = await changeTokens(u, s.address('dbl'));
      const results = await Promise.all([confirm(confirmToken), confirm(confirmToken)]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    }
  });

  it(`confirm vs cancel: whichever order they run in, the old address is what survives (${TRIALS} trials)`, async () => {
    for (let i = 0; i < TRIALS; i++) {
      const u = await s.register();
      const { confirmToken, cancelToken } = await changeTokens(u, s.address('race'));
      const [c, x] = await Promise.all([confirm(confirmToken), cancel(cancelToken)]);
      expect(x.statusCode, x.body).toBe(200);
      expect([200, 401]).toContain(c.statusCode);
      // cancel ran second after a confirm: it reverted; cancel ran first: the confirm found no token
      expect(x.data.reverted).toBe(c.statusCode === 200);
      expect((await s.storedEmail(u.userId)).email).toBe(u.email);
      expect(await s.count('one_time_tokens', `user_id = $1 AND purpose = 'email_change' AND used_at IS NULL`, [u.userId])).toBe(0);
    }
  });
});
