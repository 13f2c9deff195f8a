import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { call, createTestApp } from '../helpers/app.js';
import { oidcHarness, startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { enableMfa, nextCode } from '../integration/mfa/mfa-helpers.js';

/**
 * The same real-provider flow, for what the callback and the exchange must refuse: SECURITY OA-04
 * (PKCE and ID-token validation), OA-05 (account linking), OA-06 (the one-time code), MFA-05.
 */
const h = oidcHarness();
const { CALLBACK, APP_CB, count, account, start, callback, exchange, signInAtProvider, fullSignIn, asPath } = h;
beforeAll(() => h.open());
afterAll(() => h.close());

describe('OA-04 PKCE and the ID token are validated', () => {
  it('refuses a provider code replayed under a new state (PKCE mismatch and a used code)', async () => {
    account();
    const first = await signInAtProvider();
    expect(first.cb.statusCode).toBe(302);
    const users = await count('users');
    const s2 = await start();
    const injected = new URL(first.back);
    injected.searchParams.set('state', s2.location.searchParams.get('state')!);
    const res = await callback(injected.href, s2.binding);
    expect(res.statusCode, res.body).toBe(401);
    expect(res.headers.location).toBeUndefined();
    expect(await count('users')).toBe(users);
  });

  it('refuses a fresh code from flow A redeemed with flow B\'s state and verifier (PKCE mismatch)', async () => {
    account();
    const users = await count('users');
    const a = await start();
    const b = await start();
    const backA = new URL(await h.op.authorize(a.location.href));
    backA.searchParams.set('state', b.location.searchParams.get('state')!);
    const res = await callback(backA.href, b.binding);
    expect(res.statusCode, res.body).toBe(401);
    expect(await count('users')).toBe(users);
    expect(await count('audit_events', "action = 'oauth.callback' AND outcome = 'failure'")).toBeGreaterThanOrEqual(1);
  });

  const faults: [string, NonNullable<TestOp['tamperIdToken']>][] = [
    ['a bad signature', ({ original }) => `${original.slice(0, -4)}${original.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`],
    ['alg none', ({ claims }) => `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`],
    ['a wrong iss', ({ claims, sign }) => sign({ ...claims, iss: 'https://evil.example' })],
    ['aud of another client', ({ claims, sign }) => sign({ ...claims, aud: 'another-client' })],
    ['an expired token', ({ claims, sign }) => sign({ ...claims, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['a nonce mismatch', ({ claims, sign }) => sign({ ...claims, nonce: 'not-the-nonce' })],
    ['no nonce', ({ claims, sign }) => { const { nonce: _n, ...rest } = claims; return sign(rest); }],
    ['a key the provider does not publish', async ({ claims, sign }) => sign(claims, { kid: 'unknown-kid' })],
  ];
  it.each(faults)('refuses an ID token with %s, creating and linking nothing', async (_name, tamper) => {
    const acct = account();
    const users = await count('users');
    h.op.tamperIdToken = tamper;
    try {
      const { cb } = await signInAtProvider();
      expect(cb.statusCode, cb.body).toBe(401);
      expect(cb.headers.location).toBeUndefined();
    } finally {
      h.op.tamperIdToken = null;
    }
    expect(await count('users')).toBe(users);
    expect(await count('federated_identities', 'subject = $1', [acct.sub])).toBe(0);
  });

  it('still signs in when the tamper hook re-signs the token unchanged (the hook itself is sound)', async () => {
    account();
    h.op.tamperIdToken = ({ claims, sign }) => sign(claims);
    try {
      await fullSignIn();
    } finally {
      h.op.tamperIdToken = null;
    }
  });
});

describe('OA-05 identity linking cannot take over accounts', () => {
  const PASSWORD = 'correct horse battery staple';
  let n = 0;
  async function registerLocal(opts: { verified: boolean }) {
    const email = `local${++n}-${Date.now()}@example.com`;
    const res = await call(h.t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(res.statusCode, res.body).toBe(200);
    if (opts.verified) await h.t.stores.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [res.data.user.id]);
    return { email, id: res.data.user.id as string };
  }

  it('answers 409 without linking when the provider does not verify the email of an existing account', async () => {
    const u = await registerLocal({ verified: true });
    const acct = account({ email: u.email, email_verified: false });
    const { cb } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(409);
    expect(cb.data.error).toBe('conflict');
    expect(cb.data.message).toMatch(/not linked/);
    expect(await count('federated_identities', 'subject = $1', [acct.sub])).toBe(0);
  });

  it('does not link a verified provider identity into an unverified local row (pre-registration takeover)', async () => {
    const attacker = await registerLocal({ verified: false });
    const acct = account({ email: attacker.email, email_verified: true });
    const { cb } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(409);
    expect(await count('federated_identities', 'user_id = $1 OR subject = $2', [attacker.id, acct.sub])).toBe(0);
  });

  it('links to an existing account when both sides verified the email', async () => {
    const u = await registerLocal({ verified: true });
    account({ email: u.email.toUpperCase(), email_verified: true });
    const res = await fullSignIn();
    expect(res.data.user.id).toBe(u.id);
    expect(res.data.isNewUser).toBe(false);
    expect(await count('audit_events', "action = 'oauth.link' AND outcome = 'success' AND target = $1", [u.id])).toBe(1);
  });

  it('keeps the same user when the provider changes the email of a known subject', async () => {
    const acct = account();
    const first = await fullSignIn();
    h.op.account = { ...acct, email: `changed-${Date.now()}@example.com` };
    const second = await fullSignIn();
    expect(second.data.user.id).toBe(first.data.user.id);
  });

  it('creates a user with an unverified email when the provider does not verify it and nobody has it', async () => {
    const acct = account({ email_verified: false });
    const res = await fullSignIn();
    expect(res.data.isNewUser).toBe(true);
    expect(res.data.user).toMatchObject({ email: acct.email, emailVerified: false });
  });

  it('treats the same subject under another issuer as another user', async () => {
    const acct = account({ email: undefined, email_verified: undefined });
    const first = await fullSignIn();
    const op2 = await startTestOp({ redirectUri: CALLBACK, clientId: h.op.clientId, clientSecret: h.op.clientSecret });
    const t2 = await createTestApp({ stores: h.t.stores, env: { OAUTH_GOOGLE_CLIENT_ID: op2.clientId, OAUTH_GOOGLE_CLIENT_SECRET: op2.clientSecret, OAUTH_GOOGLE_ISSUER: op2.issuer } });
    try {
      op2.account = { ...acct };
      const s = await call(t2.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(APP_CB)}` });
      expect(s.statusCode, s.body).toBe(302);
      const binding = ([] as string[]).concat(s.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
      const back = await op2.authorize(s.headers.location as string);
      const cb = await call(t2.app, { method: 'GET', url: asPath(back), headers: { cookie: binding } });
      expect(cb.statusCode, cb.body).toBe(302);
      const res = await call(t2.app, { method: 'POST', url: '/auth/oauth/exchange', json: { code: new URL(cb.headers.location as string).searchParams.get('code') } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.data.isNewUser).toBe(true);
      expect(res.data.user.id).not.toBe(first.data.user.id);
    } finally {
      await t2.close();
      await op2.close();
    }
  });
});

describe('OA-06 the one-time exchange code', () => {
  it('works once; a second use gets 401 and ends the session the first one started', async () => {
    account();
    const { cb } = await signInAtProvider();
    const code = new URL(cb.headers.location as string).searchParams.get('code')!;
    const first = await exchange(code);
    expect(first.statusCode).toBe(200);
    expect((await call(h.t.app, { method: 'GET', url: '/auth/user', token: first.data.tokens.accessToken })).statusCode).toBe(200);
    const second = await exchange(code);
    expect(second.statusCode).toBe(401);
    expect(second.data.error).toBe('invalid_code');
    expect((await call(h.t.app, { method: 'GET', url: '/auth/user', token: first.data.tokens.accessToken })).statusCode).toBe(401);
    expect(await count('audit_events', "action = 'oauth.code_reuse'")).toBeGreaterThanOrEqual(1);
  });

  it('lets exactly one of 10 parallel exchanges of one code win', async () => {
    account();
    const { cb } = await signInAtProvider();
    const code = new URL(cb.headers.location as string).searchParams.get('code')!;
    const results = await Promise.all(Array.from({ length: 10 }, () => exchange(code)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
  });

  it('refuses a code older than 60 seconds, and unknown or malformed codes', async () => {
    account();
    const { cb } = await signInAtProvider();
    const code = new URL(cb.headers.location as string).searchParams.get('code')!;
    h.t.clock.advance(61_000);
    expect((await exchange(code)).statusCode).toBe(401);
    expect((await exchange('x'.repeat(43))).statusCode).toBe(401);
    for (const json of [{}, { code: 42 }, { code: 'a'.repeat(1000) }, { code: 'a', extra: 1 }]) {
      const res = await call(h.t.app, { method: 'POST', url: '/auth/oauth/exchange', json });
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
    }
  });
});

describe('MFA-05 the OAuth path enforces MFA', () => {
  it('answers MfaRequiredResponse at the exchange for a user with MFA, and no session exists before the code', async () => {
    account();
    const first = await fullSignIn();
    const { secret } = await enableMfa(h.t, first.data.tokens.accessToken);
    const { cb } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(302);
    const res = await exchange(new URL(cb.headers.location as string).searchParams.get('code')!);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toEqual({ mfaRequired: true, mfaToken: expect.any(String), userId: first.data.user.id });
    expect(res.headers['set-cookie']).toBeUndefined();
    const done = await call(h.t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: res.data.mfaToken, code: nextCode(h.t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    expect((decodeJwt(done.data.tokens.accessToken).amr as string[]).sort()).toEqual(['fed', 'otp']);
  });
});
