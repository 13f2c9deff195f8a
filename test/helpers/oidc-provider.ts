import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload, type CryptoKey } from 'jose';
import Provider from 'oidc-provider';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from './app.js';

/** Who the next sign-in at the test provider is. */
export interface TestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

/** Rewrites the ID token of the next token responses (SECURITY OA-04 faults). */
export type IdTokenTamper = (t: { claims: JWTPayload; header: Record<string, unknown>; original: string; sign: (claims: JWTPayload, header?: Record<string, unknown>) => Promise<string> }) => Promise<string> | string;

export interface TestOp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** the account the next interaction signs in */
  account: TestAccount;
  tamperIdToken: IdTokenTamper | null;
  /**
   * Plays the browser at the provider: follows its redirects with a cookie jar, signing in as
   * `account`, until the provider redirects to the client's redirect URI; returns that URL.
   */
  authorize(authorizationUrl: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real OpenID Provider (panva/oidc-provider v9) in this process on 127.0.0.1:<free port>, with one
 * confidential client, PKCE required, claims in the ID token, and a login interaction that signs
 * in `op.account` at once (no forms, no consent screen).
 */
export async function startTestOp(o: { redirectUri: string; clientId?: string; clientSecret?: string }): Promise<TestOp> {
  let handler: http.RequestListener = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-${randomBytes(4).toString('hex')}`;
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const clientId = o.clientId ?? 'authplane-test';
  const clientSecret = o.clientSecret ?? randomBytes(24).toString('hex');
  const accounts = new Map<string, TestAccount>();

  const op: TestOp = {
    issuer, clientId, clientSecret,
    account: { sub: 'sub-1', email: 'user@example.com', email_verified: true, name: 'Test User' },
    tamperIdToken: null,
    authorize: (url) => followProvider(url, o.redirectUri),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: [o.redirectUri],
      response_types: ['code'], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { Interaction: 600, Session: 600, Grant: 600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
    async findAccount(_ctx, sub) {
      const a = accounts.get(sub);
      return a ? { accountId: sub, claims: async () => ({ ...a }) } : undefined;
    },
    // Every client is trusted for these scopes: no consent interaction.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!ctx.oidc.session?.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });

  const key = privateKey as CryptoKey;
  const sign = (claims: JWTPayload, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, ...header }).sign(key);

  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && body?.id_token && op.tamperIdToken) {
      const original = body.id_token;
      ctx.body = { ...body, id_token: await op.tamperIdToken({ claims: decodeJwt(original), header: decodeProtectedHeader(original) as Record<string, unknown>, original, sign }) };
    }
  });

  const callback = provider.callback();
  handler = async (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      accounts.set(op.account.sub, { ...op.account });
      if (details.prompt.name === 'login') {
        return await provider.interactionFinished(req, res, { login: { accountId: op.account.sub } }, { mergeWithLastSubmission: false });
      }
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: op.account.sub, clientId });
      grant!.addOIDCScope('openid email profile');
      return await provider.interactionFinished(req, res, { consent: { grantId: await grant!.save() } }, { mergeWithLastSubmission: true });
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  };
  return op;
}

/** Follows the provider's redirects like a browser (cookies kept per name) up to the client redirect. */
async function followProvider(start: string, redirectUri: string): Promise<string> {
  const jar = new Map<string, string>();
  let url = start;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`the provider answered ${res.status} without a redirect: ${(await res.text()).slice(0, 500)}`);
    const next = new URL(location, url).href;
    if (next.startsWith(redirectUri)) return next;
    url = next;
  }
  throw new Error('too many redirects at the provider');
}

/**
 * The e2e harness for the OAuth flow: a test provider, an app configured for it (raised limits,
 * redirect URLs), and the steps of the flow as functions. Call `open()` in beforeAll.
 */
export function oidcHarness() {
  const CALLBACK = `${TEST_PUBLIC_URL}/auth/oauth/google/callback`;
  const APP_CB = 'https://app.example/cb';
  let op!: TestOp;
  let t!: TestApp;
  let subs = 0;
  const h = {
    CALLBACK, APP_CB,
    get op() { return op; },
    get t() { return t; },
    async open() {
      const raised = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
      op = await startTestOp({ redirectUri: CALLBACK });
      t = await createTestApp({ env: { OAUTH_GOOGLE_CLIENT_ID: op.clientId, OAUTH_GOOGLE_CLIENT_SECRET: op.clientSecret, OAUTH_GOOGLE_ISSUER: op.issuer } });
      const def = await t.deps.tenants.defaultTenant();
      await t.deps.tenants.update(def.id, { settings: { ...raised, redirectUrls: [APP_CB, 'https://app.example/other?x=1'] } });
      await t.deps.tenants.create({ slug: 'oidc-t2', name: 'T2', settings: { ...raised, redirectUrls: [APP_CB] } });
    },
    async close() { await t?.close(); await op?.close(); },
    count: async (table: string, where = 'true', params: unknown[] = []) =>
      (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n,
    /** Sets (and returns) a fresh account for the next provider sign-in. */
    account(over: Partial<TestAccount> = {}) {
      op.account = { sub: `sub-${++subs}-${Date.now()}`, email: `fed${subs}-${Date.now()}@example.com`, email_verified: true, name: 'Fed User', ...over };
      return op.account;
    },
    /** GET /oauth/google: the provider URL and the browser-binding cookie. */
    async start(redirectUri = APP_CB, extra = '') {
      const res = await call(t.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(redirectUri)}${extra}` });
      if (res.statusCode !== 302) throw new Error(`start answered ${res.statusCode}: ${res.body}`);
      const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-ap_oauth='))!;
      return { location: new URL(res.headers.location as string), cookie, binding: cookie.split(';')[0]! };
    },
    asPath: (url: string) => { const u = new URL(url); return `${u.pathname}${u.search}`; },
    async callback(url: string, cookie?: string) {
      return call(t.app, { method: 'GET', url: h.asPath(url), headers: cookie ? { cookie } : {} });
    },
    async exchange(code: string, headers: Record<string, string> = {}) {
      return call(t.app, { method: 'POST', url: '/auth/oauth/exchange', json: { code }, headers });
    },
    /** Start → provider → callback; returns the provider's redirect and our callback's answer. */
    async signInAtProvider(redirectUri = APP_CB) {
      const s = await h.start(redirectUri);
      const back = await op.authorize(s.location.href);
      const cb = await h.callback(back, s.binding);
      return { s, back, cb };
    },
    /** The whole flow through POST /oauth/exchange (expects success). */
    async fullSignIn() {
      const { cb } = await h.signInAtProvider();
      if (cb.statusCode !== 302) throw new Error(`callback answered ${cb.statusCode}: ${cb.body}`);
      const res = await h.exchange(new URL(cb.headers.location as string).searchParams.get('code')!);
      if (res.statusCode !== 200) throw new Error(`exchange answered ${res.statusCode}: ${res.body}`);
      return res;
    },
  };
  return h;
}
