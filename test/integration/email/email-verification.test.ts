import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { linkIn, mailsTo, readOutbox, tokenIn } from '../../helpers/mail.js';

/** Email verification (DESIGN §4 password area; SECURITY PWD-05, PWD-08, PWD-09 step 5). */
const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
const PASSWORD = 'correct horse battery staple';
const GENERIC = { message: 'If the address can receive mail, a message is on its way.' };

let t: TestApp;
let defaultId: string;
beforeAll(async () => {
  t = await createTestApp();
  defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: RAISED });
  await t.deps.tenants.create({ slug: 'ev-t2', name: 'T2', settings: RAISED });
});
afterAll(async () => { await t?.close(); });

let n = 0;
const address = () => `verify${++n}-${Date.now()}@example.com`;
const drain = () => t.deps.services.mailer.drain();
const outbox = (to: string) => mailsTo(t.config.dataDir, to);
const count = async (table: string, where = 'true', params: unknown[] = []) =>
  (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n;
const audit = async (action: string) => (await t.deps.audit.list({ tenantId: defaultId, action, limit: 500 })).items;

const request = (email: unknown, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/email/verify/request', json: { email }, headers });
const verify = (token: unknown, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token }, headers });
const me = async (accessToken: string) => (await call(t.app, { method: 'GET', url: '/auth/user', token: accessToken })).data;

async function register(email = address()) {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.data.user.emailVerified).toBe(false);
  return { email, userId: res.data.user.id as string, accessToken: res.data.tokens.accessToken as string };
}

async function verifyToken(email: string, headers: Record<string, string> = {}) {
  const res = await request(email, headers);
  expect(res.statusCode, res.body).toBe(202);
  await drain();
  return tokenIn(outbox(email).at(-1)!.text);
}

describe('PWD-05 /email/verify/request answers the same for every address', () => {
  it('unverified, verified and unknown addresses: same answer; mail only to the unverified account', async () => {
    const unverified = await register();
    const verified = await register();
    expect((await verify(await verifyToken(verified.email), { authorization: `Bearer ${verified.accessToken}` })).statusCode).toBe(200);
    const unknown = address();
    const mailsBefore = outbox(verified.email).length;
    const answers = [await request(unverified.email), await request(verified.email), await request(unknown)];
    for (const a of answers) {
      expect(a.statusCode).toBe(202);
      const { requestId, ...body } = a.data;
      expect(body).toEqual(GENERIC);
    }
    await drain();
    expect(outbox(unverified.email)).toHaveLength(1);
    expect(outbox(verified.email)).toHaveLength(mailsBefore);
    expect(outbox(unknown)).toHaveLength(0);
    const outcomes = (await audit('email.verify_request')).filter((e) => [unverified.email, unknown].includes((e.metadata as { email: string }).email))
      .map((e) => (e.metadata as { outcome: string }).outcome).sort();
    expect(outcomes).toEqual(['no_account', 'sent']);
  });
});

describe('verification', () => {
  it('marks the address verified once; the replay is 401; audited', async () => {
    const u = await register();
    const token = await verifyToken(u.email);
    // With the account's own session: the registrant is the clicker, nothing is claimed.
    const res = await verify(token, { authorization: `Bearer ${u.accessToken}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toEqual({ verified: true, email: u.email, accountClaimed: false, message: 'The address is verified.' });
    expect((await me(u.accessToken)).emailVerified).toBe(true);
    const replay = await verify(token);
    expect(replay.statusCode).toBe(401);
    expect(replay.data).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/already been used/) });
    const events = (await audit('email.verify')).filter((e) => e.target === u.userId);
    expect(events.map((e) => e.outcome)).toContain('success');
  });

  it('PWD-09 step 5: a token issued for U2 verifies U2 only', async () => {
    const u1 = await register();
    const u2 = await register();
    const t2 = await verifyToken(u2.email);
    expect((await verify(t2, { authorization: `Bearer ${u2.accessToken}` })).data.email).toBe(u2.email);
    expect((await me(u1.accessToken)).emailVerified).toBe(false);
    expect((await me(u2.accessToken)).emailVerified).toBe(true);
  });

  it('expired after 15 minutes, of another tenant, one character changed, or a reset token: 401 and nothing used up', async () => {
    const u = await register();
    const token = await verifyToken(u.email);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect((await verify(token, { 'x-tenant-id': 'ev-t2' })).statusCode).toBe(401);
    expect((await verify(`${token.slice(0, -1)}${last}`)).statusCode).toBe(401);
    await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email: u.email } });
    await drain();
    expect((await verify(tokenIn(outbox(u.email).at(-1)!.text))).statusCode).toBe(401);
    expect((await me(u.accessToken)).emailVerified).toBe(false);

    const late = await register();
    const lateToken = await verifyToken(late.email);
    t.clock.advance(15 * 60_000 + 1000);
    const res = await verify(lateToken);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toMatch(/expired/);
    expect((await verify(token)).statusCode).toBe(401); // the first one expired too
  });

  it('requesting twice retires the older link', async () => {
    const u = await register();
    const first = await verifyToken(u.email);
    const second = await verifyToken(u.email);
    expect((await verify(first)).statusCode).toBe(401);
    expect((await verify(second)).statusCode).toBe(200);
  });

  it('ten parallel uses of one link: exactly one succeeds', async () => {
    const u = await register();
    const token = await verifyToken(u.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => verify(token, { authorization: `Bearer ${u.accessToken}` })));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(9);
  });

  it('tells a reader who did not sign up what ignoring and opening the mail do, in the text and the HTML part', async () => {
    const u = await register();
    await verifyToken(u.email);
    const mail = outbox(u.email).at(-1)!;
    for (const line of ['If you did not sign up for this account, someone else entered your address: ignore this email and nothing changes',
      'open the link without being signed in to make the account yours', 'open the link where you are signed in to keep your password']) {
      expect(mail.text).toContain(line);
      expect(mail.html).toContain(line);
    }
  });

  it('PWD-08: the link starts with PUBLIC_URL whatever Host says', async () => {
    const u = await register();
    await verifyToken(u.email, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    const mail = outbox(u.email).at(-1)!;
    expect(linkIn(mail.text).startsWith(`${TEST_PUBLIC_URL}/auth/ui/verify-email?token=`)).toBe(true);
    expect(mail.html).not.toContain('evil.example');
  });
});

describe('bad input: 400 and nothing created, changed or sent', () => {
  it('on /email/verify/request and /email/verify', async () => {
    const u = await register();
    const before = { tokens: await count('one_time_tokens'), mails: readOutbox(t.config.dataDir).length };
    for (const json of [{}, { email: 7 }, { email: [u.email] }, { email: 'no-at-sign' }, { email: `${u.email}\r\nBcc: eve@x.test` }, { email: `${'b'.repeat(300)}@x.test` }, { email: u.email, userId: u.userId }, { email: u.email, redirectUrl: 'https://evil.example/' }]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/email/verify/request', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 60)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    for (const json of [{}, { token: 1 }, { token: '' }, { token: 'x'.repeat(600) }, { token: 'abc', email: u.email }, 'abc']) {
      const res = await call(t.app, { method: 'POST', url: '/auth/email/verify', json });
      expect(res.statusCode, JSON.stringify(json).slice(0, 60)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    await drain();
    expect({ tokens: await count('one_time_tokens'), mails: readOutbox(t.config.dataDir).length }).toEqual(before);
    expect((await me(u.accessToken)).emailVerified).toBe(false);
  });
});
