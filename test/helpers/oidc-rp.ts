import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { expect } from 'vitest';
import { TEST_PUBLIC_URL } from './app.js';
import { freePort } from './cli.js';
import { PASSWORD } from './identity.js';

/**
 * Test relying party and browser for Authplane's OpenID Provider: `fetch` answered by the real app
 * (app.inject, no socket), openid-client configured over it, and a cookie-keeping "browser" that
 * follows redirects and fills the hosted sign-in and consent forms with plain HTTP requests.
 */
const ORIGIN = new URL(TEST_PUBLIC_URL).origin;

/** A fetch that sends requests for PUBLIC_URL into the app. */
export function appFetch(app: FastifyInstance): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.origin !== ORIGIN) throw new Error(`appFetch: not this app: ${url.href}`);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
    let payload: string | Buffer | undefined;
    if (init.body instanceof URLSearchParams) { payload = init.body.toString(); headers['content-type'] ??= 'application/x-www-form-urlencoded'; }
    else if (typeof init.body === 'string') payload = init.body;
    else if (init.body instanceof Uint8Array) payload = Buffer.from(init.body);
    const res = await app.inject({ method: (init.method ?? 'GET') as 'GET', url: `${url.pathname}${url.search}`, headers, payload });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of ([] as (string | number)[]).concat(v as string | number | (string | number)[])) out.append(k, String(one));
    }
    const body = res.statusCode === 204 || res.statusCode === 304 ? null : new Uint8Array(res.rawPayload);
    return new Response(body, { status: res.statusCode, headers: out });
  }) as typeof fetch;
}

/** openid-client's configuration for a client of the issuer, over the app. */
export async function rpConfig(app: FastifyInstance, issuer: string, clientId: string, clientSecret?: string): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, clientSecret ? { client_secret: clientSecret } : {},
    clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(),
    { execute: [client.allowInsecureRequests], [client.customFetch]: appFetch(app) as never });
}

/** A browser: a cookie jar (by name; tests run one interaction at a time) over the app. */
export class TestBrowser {
  readonly jar = new Map<string, string>();
  readonly fetch: typeof fetch;
  constructor(readonly app: FastifyInstance) { this.fetch = appFetch(app); }

  private store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c) || /max-age=0/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private cookie(): string { return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '); }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { cookie: this.cookie() };
    if (init.form) { headers['content-type'] = 'application/x-www-form-urlencoded'; headers.origin = ORIGIN; }
    const res = await this.fetch(new URL(url, TEST_PUBLIC_URL).href, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body: init.form ? new URLSearchParams(init.form).toString() : undefined });
    this.store(res);
    return res;
  }

  /**
   * Follows redirects from `url` until a page (200) or a URL that starts with `stopAt`; returns the last
   * response and its URL.
   */
  async follow(url: string, stopAt: string, init: { form?: Record<string, string> } = {}): Promise<{ res: Response; url: string; body: string }> {
    let res = await this.request(url, init);
    let at = new URL(url, TEST_PUBLIC_URL).href;
    for (let hop = 0; hop < 15; hop++) {
      const loc = res.headers.get('location');
      if (!loc || res.status < 300 || res.status >= 400) return { res, url: at, body: await res.text() };
      at = new URL(loc, at).href;
      if (at.startsWith(stopAt)) return { res, url: at, body: '' };
      res = await this.request(at);
    }
    throw new Error('too many redirects');
  }
}

/** The hidden CSRF token of the form posting to `action` on a page. */
export function csrfOf(body: string, action: string): string {
  const esc = action.replace(/[?.*+()[\]{}|^$\\]/g, (c) => `\\${c}`).replace(/&/g, '&amp;');
  const m = new RegExp(`<form method="post" action="${esc}"[^>]*>\\s*<input type="hidden" name="_csrf" value="([^"]+)"`).exec(body);
  if (!m) throw new Error(`no form ${action} in the page: ${body.slice(0, 2000)}`);
  return m[1]!;
}

/** The hidden inputs of the form posting to `action`. */
export function hiddenOf(body: string, action: string): Record<string, string> {
  const esc = action.replace(/[?.*+()[\]{}|^$\\]/g, (c) => `\\${c}`).replace(/&/g, '&amp;');
  const m = new RegExp(`<form method="post" action="${esc}"[^>]*>([\\s\\S]*?)</form>`).exec(body);
  if (!m) throw new Error(`no form ${action} in ${body.slice(0, 3000)}`);
  const out: Record<string, string> = {};
  for (const x of m[1]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[x[1]!] = x[2]!.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/').replace(/&#(\d+);/g, (_s, d) => String.fromCharCode(Number(d))).replace(/&quot;/g, '"');
  return out;
}

export interface AuthorizeOptions {
  redirectUri: string;
  scope?: string;
  resource?: string;
  extra?: Record<string, string>;
}

/** Builds an authorization URL with PKCE S256 and a state; returns it with the verifier and state. */
export async function authorizationRequest(config: client.Configuration, o: AuthorizeOptions) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const params: Record<string, string> = {
    redirect_uri: o.redirectUri, scope: o.scope ?? 'openid email', state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...(o.resource ? { resource: o.resource } : {}), ...o.extra,
  };
  return { url: client.buildAuthorizationUrl(config, params), verifier, state };
}

/**
 * Plays the user from the authorization URL to the client's redirect: signs in on the hosted page with
 * email + password when asked (and a TOTP code when `totp` is given), then allows consent when asked.
 */
export async function browserAuthorize(b: TestBrowser, url: URL, o: { redirectUri: string; email: string; password?: string; totp?: () => string; consent?: 'allow' | 'deny' }): Promise<{ callback: URL; sawSignIn: boolean; sawConsent: boolean; signInCsp: string | null }> {
  let step = await b.follow(url.href, o.redirectUri);
  let sawSignIn = false;
  let sawConsent = false;
  let signInCsp: string | null = null;
  for (let i = 0; i < 6; i++) {
    if (step.url.startsWith(o.redirectUri)) return { callback: new URL(step.url), sawSignIn, sawConsent, signInCsp };
    expect(step.res.status, step.body.slice(0, 1000)).toBe(200);
    const page = new URL(step.url);
    if (step.body.includes('name="mfaToken"')) {
      const action = /<form method="post" action="([^"]*\/mfa[^"]*)"/.exec(step.body)![1]!.replace(/&amp;/g, '&');
      step = await b.follow(action, o.redirectUri, { form: { ...hiddenOf(step.body, action), code: o.totp!() } });
      continue;
    }
    if (page.pathname.endsWith('/sign-in')) {
      sawSignIn = true;
      signInCsp = step.res.headers.get('content-security-policy');
      const action = `${page.pathname}${page.searchParams.get('tenant') ? `?tenant=${page.searchParams.get('tenant')}` : ''}`;
      step = await b.follow(action, o.redirectUri, { form: { ...hiddenOf(step.body, action), email: o.email, password: o.password ?? PASSWORD } });
      continue;
    }
    const consent = /<form method="post" action="([^"]*\/consent[^"]*)"/.exec(step.body);
    if (consent) {
      sawConsent = true;
      const action = consent[1]!.replace(/&amp;/g, '&');
      const forms = [...step.body.matchAll(/<form method="post" action="[^"]*\/consent[^"]*"[^>]*>([\s\S]*?)<\/form>/g)];
      const wanted = forms.find((f) => f[1]!.includes(`value="${o.consent ?? 'allow'}"`))![1]!;
      const fields: Record<string, string> = {};
      for (const x of wanted.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[x[1]!] = x[2]!;
      step = await b.follow(action, o.redirectUri, { form: fields });
      continue;
    }
    throw new Error(`unexpected page ${step.url}: ${step.body.slice(0, 1500)}`);
  }
  throw new Error('the authorization did not finish');
}

/**
 * A client's loopback redirect (a native app or an MCP host) for a real browser: a listener on a free port
 * that records every `/callback` it is sent to (Chromium follows the provider's redirects itself, and
 * page.route does not see a redirect's next hop) and shows `page` there.
 */
export async function loopbackCallback(page: string): Promise<{ url: string; received: URL[]; close(): Promise<void> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/callback`;
  const received: URL[] = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', url);
    if (u.pathname === '/callback') received.push(u); // (Chromium also asks for /favicon.ico)
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>done</title><p>${page}</p>`);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url, received, close: () => new Promise((r) => server.close(() => r())) };
}
