import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { newEmail, PASSWORD, raiseLimits } from '../helpers/identity.js';
import { authorizationRequest, browserAuthorize, hiddenOf, rpConfig, TestBrowser } from '../helpers/oidc-rp.js';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../../src/http/credentials.js';

/**
 * Authentication freshness at Authplane's OpenID Provider (OIDC Core §2 auth_time, §3.1.2.1 prompt and
 * max_age), both backends: the ID token's auth_time is when the user really signed in to Authplane (not
 * when the client asked), prompt=login and a too-old session make the user sign in again even with a live
 * session, and nothing in the request can stand in for that sign-in.
 */
const ISSUER = 'http://localhost:3999/oidc/default';
const CB = 'http://127.0.0.1:8765/callback';
const WEB_CB = 'https://rp.example/cb';
let t: TestApp;
let config: client.Configuration;
let webConfig: client.Configuration;

const sec = (ms: number) => Math.floor(ms / 1000);

async function newUser() {
  const email = newEmail('fresh');
  const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(reg.statusCode, reg.body).toBe(200);
  return { email, userId: reg.data.user.id as string };
}

/** Signs `email` in on the hosted sign-in page (no authorization running); returns the browser. */
async function signedInBrowser(email: string): Promise<TestBrowser> {
  const b = new TestBrowser(t.app);
  const page = await b.follow('/auth/ui/sign-in', 'never:');
  expect(page.res.status).toBe(200);
  const done = await b.request('/auth/ui/sign-in', { form: { ...hiddenOf(page.body, '/auth/ui/sign-in'), email, password: PASSWORD } });
  expect(done.status).toBe(303);
  expect(b.jar.get(ACCESS_COOKIE)).toBeTruthy();
  return b;
}

/** When this browser's Authplane session began (its sign-in), ms epoch, as GET /auth/sessions shows it. */
async function sessionStart(b: TestBrowser): Promise<number> {
  const res = await call(t.app, { method: 'GET', url: '/auth/sessions', token: b.jar.get(ACCESS_COOKIE)! });
  expect(res.statusCode, res.body).toBe(200);
  const current = (res.data.items as { createdAt: string; current: boolean }[]).find((s) => s.current)!;
  return Date.parse(current.createdAt);
}

/** Runs an authorization in `b` (signing in with the password when the sign-in page comes) and exchanges the code. */
async function authorize(b: TestBrowser, email: string, extra: Record<string, string> = {}, rp = { config, redirectUri: CB }) {
  const req = await authorizationRequest(rp.config, { redirectUri: rp.redirectUri, scope: 'openid email', extra });
  const done = await browserAuthorize(b, req.url, { redirectUri: rp.redirectUri, email });
  const maxAge = extra.max_age === undefined ? undefined : Number(extra.max_age);
  const tokens = await client.authorizationCodeGrant(rp.config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state, maxAge });
  return { claims: tokens.claims()!, sawSignIn: done.sawSignIn };
}

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  // The app's clock runs an hour ahead of the system clock (which oidc-provider reads): an auth_time taken
  // from the wrong one can never match by accident.
  t.clock.advance(3_600_000);
  const adminKey = (await t.deps.adminKeys.create({ name: 'oidc-freshness', expiresInDays: 1 })).key;
  const register = async (name: string, redirectUri: string) => {
    const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: 'default', name, redirectUris: [redirectUri], type: 'public', scopes: ['openid', 'email'] } });
    expect(res.statusCode, res.body).toBe(201);
    return rpConfig(t.app, ISSUER, res.data.clientId as string);
  };
  config = await register('Freshness app', CB);
  webConfig = await register('Freshness web app', WEB_CB);
}, 120_000);
afterAll(async () => { await t?.close(); });

describe('OpenID Provider: auth_time', () => {
  it('a reused Authplane session gives the ID token the time of its sign-in, not the time of the authorization request', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    const signedInAt = await sessionStart(b);
    t.clock.advance(10 * 60_000);
    const { claims, sawSignIn } = await authorize(b, u.email);
    expect(sawSignIn).toBe(false);
    expect(claims.sub).toBe(u.userId);
    expect(claims.auth_time).toBe(sec(signedInAt));
    expect(claims.auth_time).toBeLessThan(sec(t.clock.nowMs()) - 500);
  });

  it('a refresh of the Authplane session does not count as an authentication', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    const signedInAt = await sessionStart(b);
    t.clock.advance(60_000);
    const refreshed = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: b.jar.get(REFRESH_COOKIE)! } });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    b.jar.set(ACCESS_COOKIE, refreshed.data.tokens.accessToken as string);
    t.clock.advance(60_000);
    const { claims, sawSignIn } = await authorize(b, u.email);
    expect(sawSignIn).toBe(false);
    expect(claims.auth_time).toBe(sec(signedInAt));
  });
});

describe('OpenID Provider: prompt=login', () => {
  it('shows the sign-in form despite a live session; the ID token\'s auth_time is the new sign-in, after the request', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    const first = await sessionStart(b);
    t.clock.advance(5_000);
    const asked = t.clock.nowMs();
    const { claims, sawSignIn } = await authorize(b, u.email, { prompt: 'login' });
    expect(sawSignIn).toBe(true);
    expect(claims.sub).toBe(u.userId);
    expect(claims.auth_time).toBeGreaterThanOrEqual(sec(asked));
    expect(claims.auth_time).toBeGreaterThan(sec(first));
    expect(claims.auth_time).toBe(sec(await sessionStart(b)));

    // That re-authentication belonged to that request: the next prompt=login asks again.
    t.clock.advance(5_000);
    const again = await authorize(b, u.email, { prompt: 'login' });
    expect(again.sawSignIn).toBe(true);
    expect(again.claims.auth_time).toBeGreaterThan(claims.auth_time!);
  });

  it('nothing the browser sends can stand in for the sign-in: forged parameters on the interaction page, a sign-in in another browser', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    t.clock.advance(5_000);
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email', extra: { prompt: 'login' } });
    const step = await b.follow(req.url.href, CB);
    expect(new URL(step.url).pathname).toBe('/auth/ui/sign-in');
    expect(step.body).toContain('Please sign in again');
    const interaction = new URL(new URL(step.url).searchParams.get('redirect_uri')!);
    expect(interaction.pathname).toMatch(/^\/auth\/ui\/oidc\//);

    t.clock.advance(5_000);
    for (const forged of ['', '?reauth=1', `?auth_time=${sec(t.clock.nowMs())}`, '?prompt=none&max_age=999999', '?login=done']) {
      const back = await b.request(`${interaction.pathname}${forged}`);
      expect(back.status, forged).toBe(303);
      expect(new URL(back.headers.get('location')!, 'http://localhost:3999').pathname, forged).toBe('/auth/ui/sign-in');
    }

    // The same user signing in again elsewhere re-authenticates that other browser, not this one.
    await signedInBrowser(u.email);
    const still = await b.request(interaction.pathname);
    expect(new URL(still.headers.get('location')!, 'http://localhost:3999').pathname).toBe('/auth/ui/sign-in');

    // Signing in here finishes it.
    const done = await browserAuthorize(b, new URL(step.url), { redirectUri: CB, email: u.email });
    const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
    expect(tokens.claims()!.auth_time).toBe(sec(await sessionStart(b)));
  });
});

describe('OpenID Provider: max_age', () => {
  it('a session older than max_age signs in again; a younger one is reused with its own auth_time', async () => {
    const u = await newUser();
    const old = await signedInBrowser(u.email);
    t.clock.advance(120_000);
    const asked = t.clock.nowMs();
    const stale = await authorize(old, u.email, { max_age: '60' });
    expect(stale.sawSignIn).toBe(true);
    expect(stale.claims.auth_time).toBeGreaterThanOrEqual(sec(asked));

    const young = await signedInBrowser(u.email);
    const signedInAt = await sessionStart(young);
    t.clock.advance(30_000);
    const fresh = await authorize(young, u.email, { max_age: '3600' });
    expect(fresh.sawSignIn).toBe(false);
    expect(fresh.claims.auth_time).toBe(sec(signedInAt));
  });

  it('max_age=0 always signs in again, and the sign-in it asks for completes the request', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    t.clock.advance(1_000);
    const asked = t.clock.nowMs();
    const { claims, sawSignIn } = await authorize(b, u.email, { max_age: '0' });
    expect(sawSignIn).toBe(true);
    expect(claims.auth_time).toBeGreaterThanOrEqual(sec(asked));
  });
});

describe('OpenID Provider: prompt=none', () => {
  it('without a session answers login_required at the client\'s redirect URI', async () => {
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email', extra: { prompt: 'none' } });
    const b = new TestBrowser(t.app);
    const step = await b.follow(req.url.href, CB);
    const back = new URL(step.url);
    expect(back.href.startsWith(CB)).toBe(true);
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('state')).toBe(req.state);
  });

  it('after an authorization in this browser answers without a page, with the auth_time of the sign-in', async () => {
    const u = await newUser();
    const b = await signedInBrowser(u.email);
    const signedInAt = await sessionStart(b);
    // A web client: consent is remembered (a native one is asked every time, which prompt=none cannot show).
    const first = await authorize(b, u.email, {}, { config: webConfig, redirectUri: WEB_CB });
    expect(first.claims.auth_time).toBe(sec(signedInAt));
    t.clock.advance(60_000);
    const again = await authorize(b, u.email, { prompt: 'none' }, { config: webConfig, redirectUri: WEB_CB });
    expect(again.sawSignIn).toBe(false);
    expect(again.claims.auth_time).toBe(sec(signedInAt));
  });

  it('ends with the Authplane session: after a logout, or with the access cookie gone, prompt=none answers login_required and an interactive request asks for a sign-in', async () => {
    const u = await newUser();
    const web = { config: webConfig, redirectUri: WEB_CB };
    const silent = async (b: TestBrowser) => {
      const req = await authorizationRequest(webConfig, { redirectUri: WEB_CB, scope: 'openid email', extra: { prompt: 'none' } });
      return new URL((await b.follow(req.url.href, WEB_CB)).url);
    };

    // Logged out through the API (the cookie is still sent, its session has ended).
    const a = await signedInBrowser(u.email);
    await authorize(a, u.email, {}, web);
    expect((await silent(a)).searchParams.get('code')).toBeTruthy();
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: a.jar.get(ACCESS_COOKIE)! })).statusCode).toBe(200);
    const afterLogout = await silent(a);
    expect(afterLogout.searchParams.get('error')).toBe('login_required');
    expect(afterLogout.searchParams.get('code')).toBeNull();
    const again = await authorize(a, u.email, {}, web);
    expect(again.sawSignIn).toBe(true);

    // Signed out of the hosted pages (the access cookie cleared): the provider's cookie alone is not enough.
    const b = await signedInBrowser(u.email);
    await authorize(b, u.email, {}, web);
    b.jar.delete(ACCESS_COOKIE);
    expect((await silent(b)).searchParams.get('error')).toBe('login_required');

    // Another user's live session in the browser does not carry the first user's provider session.
    const c = await signedInBrowser(u.email);
    await authorize(c, u.email, {}, web);
    const other = await newUser();
    const otherBrowser = await signedInBrowser(other.email);
    c.jar.set(ACCESS_COOKIE, otherBrowser.jar.get(ACCESS_COOKIE)!);
    expect((await silent(c)).searchParams.get('error')).toBe('login_required');
  });
});
