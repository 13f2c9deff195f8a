import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { startSmtpCapture, type SmtpMail } from '../helpers/mail.js';

/**
 * The email flows end to end through a real SMTP server (smtp-server on a loopback port): the app
 * sends with nodemailer (SMTP_URL), the test reads the link out of the received message.
 */
const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
const PASSWORD = 'correct horse battery staple';

let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
let t: TestApp;
beforeAll(async () => {
  smtp = await startSmtpCapture();
  t = await createTestApp({ env: { SMTP_URL: smtp.url, SMTP_FROM: 'Authplane <no-reply@authplane.test>' } });
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: RAISED });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

let n = 0;
const address = () => `smtp${++n}-${Date.now()}@example.com`;

/** Waits for the next message to `to` and returns it with the token of its link. */
async function nextMail(to: string, after: number): Promise<{ mail: SmtpMail; token: string; link: string }> {
  await t.deps.services.mailer.drain();
  const end = Date.now() + 10_000;
  for (;;) {
    const mail = smtp.messages.slice(after).find((m) => m.to.includes(to));
    if (mail) {
      const link = /https?:\/\/[^\s"<>]+[?&]token=[A-Za-z0-9_-]{43}/.exec(mail.decoded)?.[0];
      expect(link, mail.decoded).toBeDefined();
      return { mail, link: link!, token: new URL(link!).searchParams.get('token')! };
    }
    if (Date.now() > end) throw new Error(`no mail to ${to}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function register(email = address()) {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  return { email, accessToken: res.data.tokens.accessToken as string };
}

describe('email flows through a real SMTP server', () => {
  it('magic link: the mailed token signs in once (amr email), and the message goes to that one address only', async () => {
    const email = address();
    const mark = smtp.messages.length;
    const res = await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email } });
    expect(res.statusCode).toBe(200);
    const { mail, link, token } = await nextMail(email, mark);
    expect(mail.to).toEqual([email]);
    expect(mail.from).toBe('no-reply@authplane.test');
    expect(link.startsWith(`${TEST_PUBLIC_URL}/auth/ui/magic-link/verify?token=`)).toBe(true);
    expect(mail.decoded).toMatch(/^Subject: /m);
    expect(mail.decoded).toContain('Use this link to create your account and sign in.');
    expect(mail.decoded).toMatch(/Content-Type: text\/html/);
    const signIn = await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token } });
    expect(signIn.statusCode, signIn.body).toBe(200);
    expect(decodeJwt(signIn.data.tokens.accessToken).amr).toEqual(['email']);
    expect(signIn.data.user).toMatchObject({ email, emailVerified: true });
    expect((await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token } })).statusCode).toBe(401);
  });

  it('password reset: the mailed token sets the password once and signs the user out', async () => {
    const u = await register();
    const mark = smtp.messages.length;
    expect((await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: u.email } })).statusCode).toBe(202);
    const { token, link } = await nextMail(u.email, mark);
    expect(link.startsWith(`${TEST_PUBLIC_URL}/auth/ui/reset-password?token=`)).toBe(true);
    const reset = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: 'brand new passphrase 42' } });
    expect(reset.statusCode, reset.body).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: 'brand new passphrase 42' } })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: 'another passphrase 43' } })).statusCode).toBe(401);
  });

  it('email verification: the mailed token verifies the address once', async () => {
    const u = await register();
    const mark = smtp.messages.length;
    expect((await call(t.app, { method: 'POST', url: '/auth/email/verify/request', json: { email: u.email } })).statusCode).toBe(202);
    const { token } = await nextMail(u.email, mark);
    const res = await call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token }, token: u.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).data.emailVerified).toBe(true);
    expect((await call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token } })).statusCode).toBe(401);
  });

  it('resend while signed in: an access token and no body mail the link to the caller\'s own address', async () => {
    const email = address();
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(reg.statusCode, reg.body).toBe(200);
    const accessToken = reg.data.tokens.accessToken as string;
    const request = (o: { json?: unknown; token?: string; headers?: Record<string, string> }) =>
      call(t.app, { method: 'POST', url: '/auth/email/verify/request', ...o });

    // Refusals first; none of them sends anything.
    const mark = smtp.messages.length;
    const anonymous = await request({});
    expect(anonymous.statusCode, anonymous.body).toBe(400);
    expect(anonymous.data).toMatchObject({ error: 'validation_failed', details: [{ path: 'email' }] });
    const other = address();
    const foreign = await request({ token: accessToken, json: { email: other } });
    expect(foreign.statusCode, foreign.body).toBe(400);
    expect(foreign.data.error).toBe('validation_failed');
    expect((await request({ token: accessToken, json: { emial: email } })).statusCode).toBe(400);
    const byKey = await request({ headers: { 'x-api-key': reg.data.apiKey } });
    expect(byKey.statusCode, byKey.body).toBe(403);
    await t.deps.services.mailer.drain();
    expect(smtp.messages.slice(mark), 'no mail for a refused request').toEqual([]);

    const res = await request({ token: accessToken });
    expect(res.statusCode, res.body).toBe(202);
    const { mail, token } = await nextMail(email, mark);
    expect(mail.to).toEqual([email]);
    const verified = await call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token }, token: accessToken });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.data.accountClaimed).toBe(false);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: accessToken })).data.emailVerified).toBe(true);

    // Once verified there is nothing to resend; the signed-in caller is told so (it is their own account).
    const again = await request({ token: accessToken, json: { email: email.toUpperCase() } });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.data.error).toBe('conflict');
  });

  it('an unknown address gets the same answer and no message', async () => {
    const known = await register();
    const unknown = address();
    const mark = smtp.messages.length;
    const a = await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: known.email } });
    const b = await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: unknown } });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.data.message).toBe(b.data.message);
    await nextMail(known.email, mark);
    await t.deps.services.mailer.drain();
    expect(smtp.messages.slice(mark).flatMap((m) => m.to)).toEqual([known.email]);
  });
});

describe('a failing SMTP server', () => {
  it('does not change the answer, and the failure is logged without the link', async () => {
    const dead = await startSmtpCapture();
    await dead.close();
    const t2 = await createTestApp({ env: { SMTP_URL: dead.url } });
    try {
      const def = await t2.deps.tenants.defaultTenant();
      await t2.deps.tenants.update(def.id, { settings: RAISED });
      const res = await call(t2.app, { method: 'POST', url: '/auth/instant-link', json: { email: address() } });
      expect(res.statusCode).toBe(200);
      await t2.deps.services.mailer.drain();
      const logs = t2.logs.join('\n');
      expect(logs).toMatch(/mail delivery failed/);
      expect(logs).not.toMatch(/token=[A-Za-z0-9_-]{43}/);
    } finally {
      await t2.close();
    }
  });
});
