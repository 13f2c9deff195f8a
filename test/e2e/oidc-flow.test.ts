import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { RAISED_LIMITS } from '../integration/solana/wallet.js';
import { enableMfa, nextCode } from '../integration/mfa/mfa-helpers.js';

/**
 * The whole "Sign in with Google" path against a real OpenID Provider (oidc-provider) on loopback,
 * through HTTP: authorization request, the provider's login, the callback (code exchange with PKCE,
 * ID token checks), the one-time code and POST /oauth/exchange. SECURITY OA-01..OA-06.
 */
const CALLBACK = `${TEST_PUBLIC_URL}/auth/oauth/google/callback`;
const APP_CB = 'https://app.example/cb';
let op: TestOp;
let t: TestApp;

beforeAll(async () => {
  op = await startTestOp({ redirectUri: CALLBACK });
  t = await createTestApp({ env: { OAUTH_GOOGLE_CLIENT_ID: op.clientId, OAUTH_GOOGLE_CLIENT_SECRET: op.clientSecret, OAUTH_GOOGLE_ISSUER: op.issuer } });
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { ...RAISED_LIMITS, redirectUrls: [APP_CB, 'https://app.example/other?x=1'] } });
  await t.deps.tenants.create({ slug: 'oidc-t2', name: 'T2', settings: { ...RAISED_LIMITS, redirectUrls: [APP_CB] } });
});
afterAll(async () => { await t?.close(); await op?.close(); });

const count = async (table: string, where = 'true', params: unknown[] = []) =>
  (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n;

let subs = 0;
const account = (over: Partial<TestOp['account']> = {}) => {
  op.account = { sub: `sub-${++subs}-${Date.now()}`, email: `fed${subs}-${Date.now()}@example.com`, email_verified: true, name: 'Fed User', ...over };
  return op.account;
};

/** GET /oauth/google: the provider URL and the browser-binding cookie. */
async function start(redirectUri = APP_CB, extra = '') {
  const res = await call(t.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(redirectUri)}${extra}` });
  expect(res.statusCode, res.body).toBe(302);
  const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-ap_oauth='))!;
  return { location: new URL(res.headers.location as string), cookie, binding: cookie.split(';')[0]! };
}

/** The provider's redirect back to us, as a path for inject. */
const asPath = (url: string) => { const u = new URL(url); return `${u.pathname}${u.search}`; };
const callback = (url: string, cookie?: string) => call(t.app, { method: 'GET', url: asPath(url), headers: cookie ? { cookie } : {} });
const exchange = (code: string, headers: Record<string, string> = {}) => call(t.app, { method: 'POST', url: '/auth/oauth/exchange', json: { code }, headers });

/** Start → provider → callback → the app's redirect URL (with ?code=). */
async function signInAtProvider(redirectUri = APP_CB) {
  const s = await start(redirectUri);
  const back = await op.authorize(s.location.href);
  const cb = await callback(back, s.binding);
  return { s, back, cb };
}

async function fullSignIn() {
  const { cb } = await signInAtProvider();
  expect(cb.statusCode, cb.body).toBe(302);
  const code = new URL(cb.headers.location as string).searchParams.get('code')!;
  const res = await exchange(code);
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

describe('OA-01 the authorization request carries PKCE S256, state and nonce', () => {
  it('redirects to the provider with fresh 128-bit+ values, minimal scopes and a __Host- binding cookie', async () => {
    const a = await start();
    const b = await start();
    expect(`${a.location.origin}`).toBe(op.issuer);
    const p = a.location.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('scope')).toBe('openid email profile');
    expect(p.get('redirect_uri')).toBe(CALLBACK);
    expect(p.get('client_id')).toBe(op.clientId);
    for (const k of ['state', 'nonce']) expect(Buffer.from(p.get(k)!, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect([...p.keys()].sort()).toEqual(['client_id', 'code_challenge', 'code_challenge_method', 'nonce', 'redirect_uri', 'response_type', 'scope', 'state']);
    for (const k of ['state', 'nonce', 'code_challenge']) expect(b.location.searchParams.get(k)).not.toBe(p.get(k));
    expect(a.cookie).toMatch(/^__Host-ap_oauth=[^;]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    // The cookie holds a digest of the state, not the state.
    expect(a.binding.split('=')[1]).toBe(createHash('sha256').update(p.get('state')!).digest('base64url'));
  });
});

describe('sign in through the provider', () => {
  it('creates a user on first sign-in and returns tokens only through POST /oauth/exchange', async () => {
    const acct = account();
    const { cb } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(302);
    const loc = new URL(cb.headers.location as string);
    expect(`${loc.origin}${loc.pathname}`).toBe(APP_CB);
    expect([...loc.searchParams.keys()]).toEqual(['code']);
    expect(([] as string[]).concat(cb.headers['set-cookie'] ?? [])).toEqual(expect.arrayContaining([expect.stringMatching(/^__Host-ap_oauth=;.*Expires=Thu, 01 Jan 1970/)]));
    const res = await exchange(loc.searchParams.get('code')!);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.data.isNewUser).toBe(true);
    expect(res.data.user).toMatchObject({ email: acct.email, emailVerified: true, name: 'Fed User' });
    expect(decodeJwt(res.data.tokens.accessToken).amr).toEqual(['fed']);
    expect(await count('federated_identities', 'issuer = $1 AND subject = $2 AND user_id = $3', [op.issuer, acct.sub, res.data.user.id])).toBe(1);
    // No token in any logged line or Location header.
    expect(t.logs.join('\n')).not.toContain(res.data.tokens.accessToken);
    expect(t.logs.join('\n')).not.toContain(res.data.tokens.refreshToken);

    const again = await fullSignIn();
    expect(again.data.isNewUser).toBe(false);
    expect(again.data.user.id).toBe(res.data.user.id);
  });

  it('accepts a redirect URL with a query of its own, exactly as listed', async () => {
    account();
    const { cb } = await signInAtProvider('https://app.example/other?x=1');
    expect(cb.statusCode, cb.body).toBe(302);
    const loc = new URL(cb.headers.location as string);
    expect(loc.searchParams.get('x')).toBe('1');
    expect(loc.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('binds the flow to the tenant named at the start (?tenant=), for the exchange too', async () => {
    account();
    const s = await start(APP_CB, '&tenant=oidc-t2');
    const cb = await callback(await op.authorize(s.location.href), s.binding);
    expect(cb.statusCode, cb.body).toBe(302);
    const code = new URL(cb.headers.location as string).searchParams.get('code')!;
    expect((await exchange(code)).statusCode).toBe(401); // the default tenant does not know it
    const ok = await exchange(code, { 'x-tenant-id': 'oidc-t2' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.data.user.tenantId).toBe((await t.deps.tenants.resolve('oidc-t2'))!.id);
  });
});

describe('OA-02 redirect_uri must match the allowlist exactly', () => {
  const bad = [
    'https://app.example/cb/x', 'https://app.example/cb?x=1', 'https://app.example/cb#f', 'https://APP.example/cb',
    'https://app.example.evil.com/cb', 'https://app.example@evil.com/cb', 'https://a@b@app.example/cb', 'https://app.example/cb/..;/x',
    '//evil.com', 'https:/\\evil.com', 'javascript:alert(1)', 'http://app.example/cb', 'https://app.example/cb%0d%0aSet-Cookie:x=1',
    'https://app.example/cb/', '',
  ];
  it.each(bad)('refuses %j with 400 and no redirect', async (uri) => {
    const res = await call(t.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(uri)}` });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a parameter given twice, a 10 KB value and an unknown parameter', async () => {
    for (const qs of [`redirect_uri=${encodeURIComponent(APP_CB)}&redirect_uri=${encodeURIComponent(APP_CB)}`, `redirect_uri=${'a'.repeat(10_000)}`, `redirect_uri=${encodeURIComponent(APP_CB)}&x=1`, '']) {
      const res = await call(t.app, { method: 'GET', url: `/auth/oauth/google?${qs}` });
      expect(res.statusCode, qs.slice(0, 80)).toBe(400);
      expect(res.headers.location).toBeUndefined();
    }
  });
});

describe('OA-03 the callback needs a live state from the same browser', () => {
  it('refuses a missing, unknown, reused or expired state and a state without the browser binding, creating no user', async () => {
    account();
    const users = await count('users');
    const { s, back } = await (async () => { const s = await start(); return { s, back: await op.authorize(s.location.href) }; })();
    const u = new URL(back);
    const state = u.searchParams.get('state')!;

    const noState = new URL(back); noState.searchParams.delete('state');
    expect((await callback(noState.href, s.binding)).statusCode).toBe(400);

    // The victim's valid state, but not this browser's (login CSRF): refused, and not burnt.
    const csrf = await callback(back);
    expect(csrf.statusCode).toBe(403);
    expect(csrf.headers.location).toBeUndefined();

    const wrong = new URL(back); wrong.searchParams.set('state', 'A'.repeat(43));
    expect((await callback(wrong.href, s.binding)).statusCode).toBe(403);
    const wrongBinding = `__Host-ap_oauth=${createHash('sha256').update('A'.repeat(43)).digest('base64url')}`;
    expect((await callback(wrong.href, wrongBinding)).statusCode).toBe(401);
    expect(await count('users')).toBe(users);

    const ok = await callback(back, s.binding);
    expect(ok.statusCode, ok.body).toBe(302);
    const reused = await callback(back, s.binding);
    expect(reused.statusCode).toBe(401);
    expect(reused.headers.location).toBeUndefined();
    expect(state).toBeTruthy();
  });

  it('refuses a state older than 10 minutes', async () => {
    account();
    const users = await count('users');
    const s = await start();
    const back = await op.authorize(s.location.href);
    t.clock.advance(10 * 60_000 + 1000);
    const res = await callback(back, s.binding);
    expect(res.statusCode).toBe(401);
    expect(await count('users')).toBe(users);
  });

  it('refuses the provider\'s error answer', async () => {
    const s = await start();
    const state = s.location.searchParams.get('state')!;
    const res = await callback(`${CALLBACK}?error=access_denied&state=${state}&iss=${encodeURIComponent(op.issuer)}`, s.binding);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toContain('access_denied');
  });
});

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
    const backA = new URL(await op.authorize(a.location.href));
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
    op.tamperIdToken = tamper;
    try {
      const { cb } = await signInAtProvider();
      expect(cb.statusCode, cb.body).toBe(401);
      expect(cb.headers.location).toBeUndefined();
    } finally {
      op.tamperIdToken = null;
    }
    expect(await count('users')).toBe(users);
    expect(await count('federated_identities', 'subject = $1', [acct.sub])).toBe(0);
  });

  it('still signs in when the tamper hook re-signs the token unchanged (the hook itself is sound)', async () => {
    account();
    op.tamperIdToken = ({ claims, sign }) => sign(claims);
    try {
      await fullSignIn();
    } finally {
      op.tamperIdToken = null;
    }
  });
});

describe('OA-05 identity linking cannot take over accounts', () => {
  const PASSWORD = 'correct horse battery staple';
  let n = 0;
  async function registerLocal(opts: { verified: boolean }) {
    const email = `local${++n}-${Date.now()}@example.com`;
    const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(res.statusCode, res.body).toBe(201);
    if (opts.verified) await t.stores.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [res.data.user.id]);
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
    op.account = { ...acct, email: `changed-${Date.now()}@example.com` };
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
    const op2 = await startTestOp({ redirectUri: CALLBACK, clientId: op.clientId, clientSecret: op.clientSecret });
    const t2 = await createTestApp({ stores: t.stores, env: { OAUTH_GOOGLE_CLIENT_ID: op2.clientId, OAUTH_GOOGLE_CLIENT_SECRET: op2.clientSecret, OAUTH_GOOGLE_ISSUER: op2.issuer } });
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
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: first.data.tokens.accessToken })).statusCode).toBe(200);
    const second = await exchange(code);
    expect(second.statusCode).toBe(401);
    expect(second.data.error).toBe('invalid_code');
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: first.data.tokens.accessToken })).statusCode).toBe(401);
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
    t.clock.advance(61_000);
    expect((await exchange(code)).statusCode).toBe(401);
    expect((await exchange('x'.repeat(43))).statusCode).toBe(401);
    for (const json of [{}, { code: 42 }, { code: 'a'.repeat(1000) }, { code: 'a', extra: 1 }]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/oauth/exchange', json });
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
    }
  });
});

describe('MFA-05 the OAuth path enforces MFA', () => {
  it('answers MfaRequiredResponse at the exchange for a user with MFA, and no session exists before the code', async () => {
    account();
    const first = await fullSignIn();
    const { secret } = await enableMfa(t, first.data.tokens.accessToken);
    const { cb } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(302);
    const res = await exchange(new URL(cb.headers.location as string).searchParams.get('code')!);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toEqual({ mfaRequired: true, mfaToken: expect.any(String), userId: first.data.user.id });
    expect(res.headers['set-cookie']).toBeUndefined();
    const done = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: res.data.mfaToken, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    expect((decodeJwt(done.data.tokens.accessToken).amr as string[]).sort()).toEqual(['fed', 'otp']);
  });
});
