import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createHash } from 'node:crypto';
import { call, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { linkIn, readOutbox, tokenIn } from '../../helpers/mail.js';
import { GENERIC, linkHelpers, PASSWORD, RAISED, startLinkApp } from '../../helpers/email-links.js';
import { userStore } from '../../../src/modules/users/store.js';
import { enableMfa } from '../mfa/mfa-helpers.js';

/** Magic links (DESIGN "instant link"; SECURITY ML-01..ML-04, PWD-05, PWD-08, HDR-02). */
const REDIRECT = 'https://app.example.com/auth/callback';

let t: TestApp;
let defaultId: string;
beforeAll(async () => {
  ({ t, defaultId } = await startLinkApp({ redirectUrl: REDIRECT, tenants: [
    { slug: 'ml-t2', name: 'T2' },
    { slug: 'ml-closed', name: 'Closed', settings: { magicLinkSignup: false } },
  ] }));
});
afterAll(async () => { await t?.close(); });

const { unique, address, drain, outbox, count, audit, register, tokenByMail } = linkHelpers(() => ({ t, defaultId }), 'ml');

const requestLink = (email: unknown, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email, ...extra }, headers });
const verifyLink = (token: unknown, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token }, headers });
/** Requests a link for `email` and returns the token of the newest mail. */
const linkToken = tokenByMail(requestLink, 200);

describe('ML-01 / PWD-05 one generic answer, whatever the address', () => {
  it('an existing, unknown (sign-up on and off), disabled and unverified address get the same status and body; mail only where allowed', async () => {
    const existing = await register();
    const unverified = await register();
    const disabled = await register();
    await t.deps.sql.tx(defaultId, (tx) => userStore.setDisabled(tx, disabled.userId, true, t.clock.now()));
    const unknown = address();
    const unknownClosed = address();
    const answers = [
      await requestLink(existing.email),
      await requestLink(unverified.email.toUpperCase()),
      await requestLink(disabled.email),
      await requestLink(unknown),
      await requestLink(unknownClosed, { 'x-tenant-id': 'ml-closed' }),
    ];
    for (const a of answers) {
      expect(a.statusCode).toBe(200);
      const { requestId, ...body } = a.data;
      expect(body).toEqual(GENERIC);
      expect(a.headers['content-type']).toBe(answers[0]!.headers['content-type']);
    }
    await drain();
    expect(outbox(existing.email)).toHaveLength(1);
    expect(outbox(unverified.email)).toHaveLength(1);
    expect(outbox(disabled.email)).toHaveLength(0);
    expect(outbox(unknown)).toHaveLength(1);
    expect(outbox(unknownClosed)).toHaveLength(0);
    // The account for an unknown address is created only when the link is used.
    expect(await count('users', 'lower(email) = lower($1)', [unknown])).toBe(0);
    const events = (await audit('magic_link.request')).filter((e) => [existing.email, unknown, disabled.email].includes((e.metadata as { email: string }).email));
    expect(events.map((e) => (e.metadata as { outcome: string }).outcome).sort()).toEqual(['disabled', 'sent', 'sent']);
  });
});

describe('verify', () => {
  it('signs an existing user in with amr ["email"], marks the address verified, sets cookies, no-store', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    const res = await verifyLink(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.user).toMatchObject({ id: u.userId, email: u.email, emailVerified: true });
    expect(res.data.isNewUser).toBe(false);
    expect(decodeJwt(res.data.tokens.accessToken).amr).toEqual(['email']);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('__Host-ap_access='))).toBe(true);
    const me = await call(t.app, { method: 'GET', url: '/auth/user', token: res.data.tokens.accessToken });
    expect(me.data.emailVerified).toBe(true);
    const logins = (await t.deps.audit.list({ tenantId: defaultId, actorId: u.userId, action: 'user.login', limit: 10 })).items;
    expect(logins.some((e) => (e.metadata as { method: string }).method === 'magic_link')).toBe(true);
  });

  it('a sign-up link creates the verified account when used (isNewUser)', async () => {
    const email = address('new');
    const token = await linkToken(email);
    const res = await verifyLink(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.isNewUser).toBe(true);
    expect(res.data.user).toMatchObject({ email, emailVerified: true });
    expect(await count('users', 'lower(email) = lower($1)', [email])).toBe(1);
  });

  it('a sign-up link whose address registered meanwhile signs in to that account instead of creating one', async () => {
    const email = address('late');
    const token = await linkToken(email);
    const u = await register(email);
    const res = await verifyLink(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.user.id).toBe(u.userId);
    expect(res.data.isNewUser).toBe(false);
    expect(await count('users', 'lower(email) = lower($1)', [email])).toBe(1);
  });

  it('a sign-up link is refused when the tenant closes sign-up by link before it is used', async () => {
    const email = address('closing');
    const t3 = await t.deps.tenants.create({ slug: `ml-closing-${unique()}`, name: 'Closing', settings: RAISED });
    const token = await linkToken(email, { 'x-tenant-id': t3.slug });
    await t.deps.tenants.update(t3.id, { settings: { magicLinkSignup: false } });
    const res = await verifyLink(token, { 'x-tenant-id': t3.slug });
    expect(res.statusCode).toBe(403);
    expect(await count('users', 'lower(email) = lower($1)', [email])).toBe(0);
  });

  it('an account registered unverified by someone else loses that password and its sessions when the address owner signs in by link', async () => {
    const squatter = await register(address('squat'));
    const token = await linkToken(squatter.email);
    const res = await verifyLink(token);
    expect(res.statusCode, res.body).toBe(200);
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: squatter.email, password: PASSWORD } });
    expect(login.statusCode).toBe(401);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: squatter.accessToken })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: res.data.tokens.accessToken })).statusCode).toBe(200);
    expect((await t.deps.audit.list({ tenantId: defaultId, action: 'user.unverified_credentials_cleared', actorId: squatter.userId, limit: 5 })).items).toHaveLength(1);
  });

  it('claiming an unverified account strips every factor the registrant attached: MFA and API keys too', async () => {
    const squatter = await register(address('squat-mfa'));
    expect(squatter.apiKey).toMatch(/^ck_/);
    await enableMfa(t, squatter.accessToken);
    const token = await linkToken(squatter.email);
    const res = await verifyLink(token);
    // The owner signs straight in: the squatter's TOTP no longer guards the account.
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.mfaRequired).toBeUndefined();
    expect(res.data.user.id).toBe(squatter.userId);
    expect(await count('user_mfa', 'user_id = $1', [squatter.userId])).toBe(0);
    expect(await count('mfa_recovery_codes', 'user_id = $1', [squatter.userId])).toBe(0);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': squatter.apiKey! } })).statusCode).toBe(401);
    const [row] = (await audit('user.unverified_credentials_cleared')).filter((e) => e.actor_id === squatter.userId);
    expect(row).toBeDefined();
  });

  it('a password reset of an unverified account strips the registrant\'s MFA before setting the owner\'s password', async () => {
    const squatter = await register(address('squat-reset'));
    await enableMfa(t, squatter.accessToken);
    const forgot = await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: squatter.email } });
    expect(forgot.statusCode).toBe(202);
    await drain();
    const resetToken = tokenIn(outbox(squatter.email).at(-1)!.text);
    const NEW = 'an entirely new owner passphrase';
    const reset = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token: resetToken, password: NEW } });
    expect(reset.statusCode, reset.body).toBe(200);
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: squatter.email, password: NEW } });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.data.mfaRequired).toBeUndefined();
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': squatter.apiKey! } })).statusCode).toBe(401);
  });

  it('a verified account keeps its password and sessions', async () => {
    const u = await register();
    await call(t.app, { method: 'POST', url: '/auth/email/verify/request', json: { email: u.email } });
    await drain();
    const verified = await call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token: tokenIn(outbox(u.email).at(-1)!.text) }, token: u.accessToken });
    expect(verified.statusCode, verified.body).toBe(200);
    const token = await linkToken(u.email);
    expect((await verifyLink(token)).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(200);
  });
});

describe('ML-02 link tokens are single-use, short-lived and checked by value', () => {
  it('carry 256 bits, are stored only as SHA-256, expire after 15 minutes', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { rows } = await t.stores.sql.ownerQuery<{ token_hash: Buffer; expires_at: Date; created_at: Date }>(
      'SELECT token_hash, expires_at, created_at FROM one_time_tokens WHERE purpose = $1 AND lower(email) = lower($2)', ['magic_link', u.email]);
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.token_hash).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(new Date(rows[0]!.expires_at).getTime() - new Date(rows[0]!.created_at).getTime()).toBe(15 * 60_000);
  });

  it('the first use signs in; a replay is 401 invalid_token saying it was used', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    expect((await verifyLink(token)).statusCode).toBe(200);
    const replay = await verifyLink(token);
    expect(replay.statusCode).toBe(401);
    expect(replay.data).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/already been used/) });
    expect((await audit('magic_link.verify')).some((e) => e.outcome === 'failure' && (e.metadata as { reason: string }).reason === 'used')).toBe(true);
  });

  it('works at 14:59 and is 401 (expired) after 15 minutes', async () => {
    const a = await register();
    const b = await register();
    const ta = await linkToken(a.email);
    const tb = await linkToken(b.email);
    t.clock.advance(15 * 60_000 - 1000);
    expect((await verifyLink(ta)).statusCode).toBe(200);
    t.clock.advance(2000);
    const res = await verifyLink(tb);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toMatch(/expired/);
  });

  it('one changed character, a token of another tenant, or only the email: 401 — and nothing is used up', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const [bad, headers] of [[`${token.slice(0, -1)}${last}`, {}], [`${last}${token.slice(1)}`, {}], [token, { 'x-tenant-id': 'ml-t2' }], [u.email, {}]] as const) {
      const res = await verifyLink(bad, headers);
      expect(res.statusCode).toBe(401);
      expect(res.data.error).toBe('invalid_token');
    }
    expect((await verifyLink(token)).statusCode).toBe(200);
  });

  it('row-level security: T2 sees none of T\'s tokens, and cannot delete them', async () => {
    const u = await register();
    await linkToken(u.email);
    const t2 = (await t.deps.tenants.resolve('ml-t2'))!;
    const seen = await t.deps.sql.tx(t2.id, (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM one_time_tokens'));
    expect(seen.rows[0]!.n).toBe(0);
    const deleted = await t.deps.sql.tx(t2.id, (tx) => tx.query('DELETE FROM one_time_tokens'));
    expect(deleted.rowCount).toBe(0);
    expect(await count('one_time_tokens', 'lower(email) = lower($1)', [u.email])).toBe(1);
  });

  it('requesting twice retires the first link: only the newest works', async () => {
    const u = await register();
    const first = await linkToken(u.email);
    const second = await linkToken(u.email);
    expect(first).not.toBe(second);
    expect((await verifyLink(first)).statusCode).toBe(401);
    expect((await verifyLink(second)).statusCode).toBe(200);
  });

  it('ten parallel uses of one link: exactly one signs in', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => verifyLink(token)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(9);
  });

  it('ten parallel uses of one sign-up link create one account', async () => {
    const email = address('race');
    const token = await linkToken(email);
    const results = await Promise.all(Array.from({ length: 10 }, () => verifyLink(token)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(await count('users', 'lower(email) = lower($1)', [email])).toBe(1);
  });

  it('a disabled account cannot use a link mailed before it was disabled', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    await t.deps.sql.tx(defaultId, (tx) => userStore.setDisabled(tx, u.userId, true, t.clock.now()));
    expect((await verifyLink(token)).statusCode).toBe(401);
  });
});

describe('ML-04 / PWD-08 link delivery', () => {
  it('links start with PUBLIC_URL under a hostile Host or X-Forwarded-Host', async () => {
    const u = await register();
    for (const headers of [{ host: 'evil.example' }, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }] as Record<string, string>[]) {
      const token = await linkToken(u.email, headers);
      const link = linkIn(outbox(u.email).at(-1)!.text);
      expect(link.startsWith(`${TEST_PUBLIC_URL}/auth/ui/magic-link/verify?token=`)).toBe(true);
      expect(outbox(u.email).at(-1)!.html).not.toContain('evil.example');
      expect(token).toHaveLength(43);
    }
  });

  it('an allowed redirectUrl carries the token; any other redirectUrl is 400 and sends nothing', async () => {
    const u = await register();
    const ok = await requestLink(u.email, {}, { redirectUrl: REDIRECT });
    expect(ok.statusCode).toBe(200);
    await drain();
    expect(linkIn(outbox(u.email).at(-1)!.text).startsWith(`${REDIRECT}?token=`)).toBe(true);
    const before = outbox(u.email).length;
    for (const bad of ['https://evil.example/cb', `${REDIRECT}/x`, `${REDIRECT}?a=1`, 'https://app.example.com.evil.com/auth/callback']) {
      const res = await requestLink(u.email, {}, { redirectUrl: bad });
      expect(res.statusCode, bad).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    // Refused before the address is looked at: an unknown address gets the same 400.
    expect((await requestLink(address(), {}, { redirectUrl: 'https://evil.example/cb' })).statusCode).toBe(400);
    await drain();
    expect(outbox(u.email)).toHaveLength(before);
  });

  it('opening the link (GET) uses nothing up, sends no referrer, and a POST then signs in once', async () => {
    const u = await register();
    const token = await linkToken(u.email);
    const link = new URL(linkIn(outbox(u.email).at(-1)!.text));
    const get = await call(t.app, { method: 'GET', url: `${link.pathname}${link.search}` });
    expect(get.headers['referrer-policy']).toBe('no-referrer');
    expect(t.logs.join('\n')).not.toContain(token);
    expect((await verifyLink(token)).statusCode).toBe(200);
  });

  it('caps mail to one address at 5 per 15 minutes while the answer stays the same', async () => {
    const email = address('flood');
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await requestLink(email));
    for (const a of answers) expect(a.statusCode).toBe(200);
    await drain();
    expect(outbox(email)).toHaveLength(5);
    // The link mailed last still works: refused requests retire nothing.
    expect((await verifyLink(tokenIn(outbox(email).at(-1)!.text))).statusCode).toBe(200);
    t.clock.advance(30 * 60_000); // a sliding window: two windows later the count is back to zero
    await requestLink(email);
    await drain();
    expect(outbox(email)).toHaveLength(6);
  });

  it('tells a reader who did not ask for the link to ignore the mail (sign-in and sign-up links), in the text and the HTML part', async () => {
    const u = await register();
    await linkToken(u.email);
    const signInMail = outbox(u.email).at(-1)!;
    const signInLine = 'If you did not ask to sign in, ignore this email — nothing will change and nobody is signed in.';
    expect(signInMail.text).toContain(signInLine);
    expect(signInMail.html).toContain(signInLine);
    const newcomer = address('ignore');
    await linkToken(newcomer);
    const signUpMail = outbox(newcomer).at(-1)!;
    const signUpLine = 'If you did not sign up for this account, ignore this email — nothing will change and no account is created.';
    expect(signUpMail.subject).toMatch(/sign-up link/);
    expect(signUpMail.text).toContain(signUpLine);
    expect(signUpMail.html).toContain(signUpLine);
  });

  it('the HTML part escapes everything and the subject is one line', async () => {
    const name = 'Acme <script>alert(1)</script> & "Co"';
    const t4 = await t.deps.tenants.create({ slug: `ml-html-${unique()}`, name, settings: RAISED });
    const email = address('html');
    await requestLink(email, { 'x-tenant-id': t4.slug });
    await drain();
    const mail = outbox(email).at(-1)!;
    expect(mail.subject).toContain(name);
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toMatch(/<a href="http:\/\/localhost:3999\/auth\/ui\/magic-link\/verify\?tenant=ml-html-[^&"]+&amp;token=[A-Za-z0-9_-]{43}">/);
  });
});

describe('ML-03 / bad input: 400 validation_failed and nothing created or sent', () => {
  it('refuses lists, display names, header injection, markup, oversize and wrong types', async () => {
    const before = { tokens: await count('one_time_tokens'), users: await count('users'), mails: readOutbox(t.config.dataDir).length };
    const bodies: unknown[] = [
      {}, { email: 42 }, { email: null }, { email: true }, { email: ['a@x.test', 'victim@y.test'] }, { email: { a: 1 } },
      { email: '' }, { email: 'not-an-email' }, { email: 'a@x.test,victim@y.test' }, { email: '"Eve" <eve@x.test>' },
      { email: 'victim@y.test\r\nBcc: eve@x.test' }, { email: '<a href=//evil>x</a>@x.test' }, { email: `${'a'.repeat(10_000)}@x.test` },
      { email: 'a@x.test', extra: true }, { email: 'a@x.test', redirectUrl: 5 }, { email: 'a@x.test', redirectUrl: 'x'.repeat(3000) },
    ];
    for (const json of bodies) {
      const res = await call(t.app, { method: 'POST', url: '/auth/instant-link', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.message).toMatch(/^Invalid request/);
    }
    for (const json of [{}, { token: 5 }, { token: null }, { token: '' }, { token: 'x'.repeat(10_000) }, { token: 'abc', email: 'a@x.test' }, ['abc']]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    await drain();
    expect({ tokens: await count('one_time_tokens'), users: await count('users'), mails: readOutbox(t.config.dataDir).length }).toEqual(before);
  });
});
