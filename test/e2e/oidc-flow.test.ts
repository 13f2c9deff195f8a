import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { call } from '../helpers/app.js';
import { oidcHarness } from '../helpers/oidc-provider.js';

/**
 * "Sign in with Google" against a real OpenID Provider (oidc-provider) on loopback, through HTTP:
 * the authorization request, the provider's login, the callback and POST /oauth/exchange.
 * SECURITY OA-01 (PKCE, state, nonce), OA-02 (redirect_uri allowlist), OA-03 (state and browser binding).
 */
const h = oidcHarness();
const { CALLBACK, APP_CB, count, account, start, callback, exchange, signInAtProvider, fullSignIn } = h;
beforeAll(() => h.open());
afterAll(() => h.close());

describe('OA-01 the authorization request carries PKCE S256, state and nonce', () => {
  it('redirects to the provider with fresh 128-bit+ values, minimal scopes and a __Host- binding cookie', async () => {
    const a = await start();
    const b = await start();
    expect(`${a.location.origin}`).toBe(h.op.issuer);
    const p = a.location.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('scope')).toBe('openid email profile');
    expect(p.get('redirect_uri')).toBe(CALLBACK);
    expect(p.get('client_id')).toBe(h.op.clientId);
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
    const { cb, back } = await signInAtProvider();
    expect(cb.statusCode, cb.body).toBe(302);
    const loc = new URL(cb.headers.location as string);
    // Neither the provider's code nor our one-time code is written to the request log.
    expect(h.t.logs.join('\n')).not.toContain(new URL(back).searchParams.get('code')!);
    expect(h.t.logs.join('\n')).not.toContain(loc.searchParams.get('code')!);
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
    expect(await count('federated_identities', 'issuer = $1 AND subject = $2 AND user_id = $3', [h.op.issuer, acct.sub, res.data.user.id])).toBe(1);
    // No token in any logged line or Location header.
    expect(h.t.logs.join('\n')).not.toContain(res.data.tokens.accessToken);
    expect(h.t.logs.join('\n')).not.toContain(res.data.tokens.refreshToken);

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
    const cb = await callback(await h.op.authorize(s.location.href), s.binding);
    expect(cb.statusCode, cb.body).toBe(302);
    const code = new URL(cb.headers.location as string).searchParams.get('code')!;
    expect((await exchange(code)).statusCode).toBe(401); // the default tenant does not know it
    const ok = await exchange(code, { 'x-tenant-id': 'oidc-t2' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.data.user.tenantId).toBe((await h.t.deps.tenants.resolve('oidc-t2'))!.id);
  });
});

describe('federated identities are per tenant', () => {
  it('gives the same provider account distinct users in two tenants', async () => {
    account();
    const inT = await fullSignIn();
    const s = await start(APP_CB, '&tenant=oidc-t2');
    const cb = await callback(await h.op.authorize(s.location.href), s.binding);
    const inT2 = await exchange(new URL(cb.headers.location as string).searchParams.get('code')!, { 'x-tenant-id': 'oidc-t2' });
    expect(inT2.statusCode, inT2.body).toBe(200);
    expect(inT2.data.isNewUser).toBe(true);
    expect(inT2.data.user.id).not.toBe(inT.data.user.id);
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
    const res = await call(h.t.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(uri)}` });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a parameter given twice, a 10 KB value and an unknown parameter', async () => {
    for (const qs of [`redirect_uri=${encodeURIComponent(APP_CB)}&redirect_uri=${encodeURIComponent(APP_CB)}`, `redirect_uri=${'a'.repeat(10_000)}`, `redirect_uri=${encodeURIComponent(APP_CB)}&x=1`, '']) {
      const res = await call(h.t.app, { method: 'GET', url: `/auth/oauth/google?${qs}` });
      expect(res.statusCode, qs.slice(0, 80)).toBe(400);
      expect(res.headers.location).toBeUndefined();
    }
  });
});

describe('OA-03 the callback needs a live state from the same browser', () => {
  it('refuses a missing, unknown, reused or expired state and a state without the browser binding, creating no user', async () => {
    account();
    const users = await count('users');
    const { s, back } = await (async () => { const s = await start(); return { s, back: await h.op.authorize(s.location.href) }; })();
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
    const back = await h.op.authorize(s.location.href);
    h.t.clock.advance(10 * 60_000 + 1000);
    const res = await callback(back, s.binding);
    expect(res.statusCode).toBe(401);
    expect(await count('users')).toBe(users);
  });

  it('refuses the provider\'s error answer', async () => {
    const s = await start();
    const state = s.location.searchParams.get('state')!;
    const res = await callback(`${CALLBACK}?error=access_denied&state=${state}&iss=${encodeURIComponent(h.op.issuer)}`, s.binding);
    expect(res.statusCode).toBe(401);
    expect(res.data.message).toContain('access_denied');
  });
});
