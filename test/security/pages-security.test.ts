import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';

/**
 * The hosted pages under attack (issue 16): CSP nonces, CSRF (Origin + per-form token), open redirects,
 * GETs on link landings, tokens in URLs, rate limits, account enumeration. Through app.inject; the
 * browser walk is test/e2e/pages-browser.test.ts.
 */
const ORIGIN = new URL(TEST_PUBLIC_URL).origin;
const PASSWORD = 'correct horse battery staple';
const APP_URL = 'https://app.example.com/after-sign-in';

let t: TestApp;
let n = 0;
const address = () => `pages-${++n}-${Date.now()}@example.com`;

type Res = Awaited<ReturnType<typeof call>>;
const setCookies = (r: Res): string[] => ([] as string[]).concat((r.headers['set-cookie'] as string | string[] | undefined) ?? []);
const cookieValue = (r: Res, name: string) => setCookies(r).find((c) => c.startsWith(`${name}=`))?.split(';')[0]!.slice(name.length + 1);

/** A page's form token and the browser cookie it is bound to. */
async function formOf(url: string, action: string): Promise<{ cookie: string; csrf: string; page: Res }> {
  const page = await call(t.app, { method: 'GET', url });
  expect(page.statusCode, page.body).toBe(200);
  const cookie = cookieValue(page, '__Host-ap_ui')!;
  const re = new RegExp(`<form method="post" action="${action.replace(/[?]/g, '\\?')}"[^>]*>\\s*<input type="hidden" name="_csrf" value="([^"]+)"`);
  const m = re.exec(page.body);
  expect(m, `no form ${action} in ${url}`).not.toBeNull();
  return { cookie: `__Host-ap_ui=${cookie}`, csrf: m![1]!, page };
}

function post(url: string, fields: Record<string, string>, o: { cookie?: string; origin?: string | null; site?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (o.origin !== null) headers.origin = o.origin ?? ORIGIN;
  if (o.cookie) headers.cookie = o.cookie;
  if (o.site) headers['sec-fetch-site'] = o.site;
  return call(t.app, { method: 'POST', url, headers, payload: new URLSearchParams(fields).toString() });
}

beforeAll(async () => {
  t = await createTestApp();
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { redirectUrls: [APP_URL] } });
  await t.deps.tenants.create({ slug: 'tight', name: 'Tight', settings: { rateLimits: { credential: { limit: 3, windowSeconds: 60 } } } });
}, 120_000);
afterAll(async () => { await t?.close(); });

describe('pages: CSP', () => {
  it('every page carries a CSP with a fresh nonce, and every script and style element carries it', async () => {
    const nonces = new Set<string>();
    for (const url of ['/auth/ui/sign-in', '/auth/ui/sign-up', '/auth/ui/forgot-password', '/auth/ui/verify-email', '/auth/ui/totp', '/auth/ui/no-such-page', '/auth/ui/sign-in?tenant=nope']) {
      const r = await call(t.app, { method: 'GET', url });
      const csp = String(r.headers['content-security-policy']);
      expect(r.headers['content-type'], url).toMatch(/^text\/html/);
      const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
      expect(nonce, `${url}: ${csp}`).toBeTruthy();
      nonces.add(nonce!);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("base-uri 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:\/\//);
      for (const tag of r.body.match(/<(script|style)\b[^>]*>/g) ?? []) expect(tag, url).toContain(`nonce="${nonce}"`);
      expect(r.body).not.toMatch(/\son[a-z]+=|style="/i);
    }
    expect(nonces.size).toBe(7);
  });
});

describe('pages: CSRF', () => {
  it('a form POST from another origin, from a cross-site context, without or with a foreign token is refused', async () => {
    const email = address();
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    const { cookie, csrf } = await formOf('/auth/ui/sign-in', '/auth/ui/sign-in');
    const fields = { email, password: PASSWORD, _csrf: csrf };
    const refusals = [
      await post('/auth/ui/sign-in', fields, { cookie, origin: 'https://evil.example' }),
      await post('/auth/ui/sign-in', fields, { cookie, origin: 'null' }),
      await post('/auth/ui/sign-in', fields, { cookie, origin: null, site: 'cross-site' }),
      await post('/auth/ui/sign-in', { email, password: PASSWORD }, { cookie }),
      await post('/auth/ui/sign-in', fields, {}),
      // a token for another form of the same browser
      await post('/auth/ui/sign-in', { ...fields, _csrf: (await formOf('/auth/ui/forgot-password', '/auth/ui/forgot-password')).csrf }, { cookie }),
    ];
    for (const r of refusals) {
      expect(r.statusCode, r.body).toBe(403);
      expect(setCookies(r).some((c) => c.startsWith('__Host-ap_access='))).toBe(false);
    }
    const ok = await post('/auth/ui/sign-in', fields, { cookie });
    expect(ok.statusCode, ok.body).toBe(303);
    expect(cookieValue(ok, '__Host-ap_access')).toBeTruthy();
    expect(setCookies(ok).find((c) => c.startsWith('__Host-ap_access='))).toMatch(/HttpOnly/i);
  });
});

describe('pages: redirect_uri', () => {
  it('only a redirect_uri that is exactly one of the tenant\'s redirectUrls is followed; others are refused before any sign-in', async () => {
    for (const bad of ['https://evil.example/x', `${APP_URL}/../x`, `${APP_URL}?x=1`, '//evil.example', 'javascript:alert(1)']) {
      const r = await call(t.app, { method: 'GET', url: `/auth/ui/sign-in?redirect_uri=${encodeURIComponent(bad)}` });
      expect(r.statusCode, bad).toBe(400);
    }
    const email = address();
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    const { cookie, csrf } = await formOf('/auth/ui/sign-in', '/auth/ui/sign-in');
    const foreign = await post('/auth/ui/sign-in', { email, password: PASSWORD, _csrf: csrf, redirect_uri: 'https://evil.example/x' }, { cookie });
    expect(foreign.statusCode).toBe(400);
    expect(cookieValue(foreign, '__Host-ap_access')).toBeUndefined();
    const good = await post('/auth/ui/sign-in', { email, password: PASSWORD, _csrf: csrf, redirect_uri: APP_URL }, { cookie });
    expect(good.statusCode).toBe(303);
    expect(good.headers.location).toBe(APP_URL);
    // Chromium applies form-action to the redirect after a POST: the allowed origin is named, nothing else.
    expect(String(good.headers['content-security-policy'])).toContain("form-action 'self' https://app.example.com");
    const plain = await post('/auth/ui/sign-in', { email, password: PASSWORD, _csrf: csrf }, { cookie });
    expect(plain.headers.location).toBe('/auth/ui/account');
  });
});

describe('pages: email link landings', () => {
  it('a GET with the token consumes nothing and moves the token out of the URL; the POST spends it once', async () => {
    const email = address();
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    await call(t.app, { method: 'POST', url: '/auth/instant-link', json: { email } });
    await t.deps.services.mailer.drain();
    const link = new URL(mailsTo(t.config.dataDir, email).at(-1)!.text.match(/https?:\/\/\S+/)![0]);
    expect(link.pathname).toBe('/auth/ui/magic-link/verify');
    const token = tokenIn(link.toString());

    // A mail scanner: any number of GETs, and the token still works afterwards.
    for (let i = 0; i < 3; i++) {
      const scan = await call(t.app, { method: 'GET', url: `${link.pathname}${link.search}` });
      expect(scan.statusCode).toBe(303);
      expect(scan.headers.location).toBe('/auth/ui/magic-link/verify');
      expect(String(scan.headers.location)).not.toContain(token);
      expect(setCookies(scan).find((c) => c.startsWith('__Host-ap_link_magic='))).toMatch(/HttpOnly/i);
      expect(scan.headers['referrer-policy']).toBe('no-referrer');
    }
    const landed = await call(t.app, { method: 'GET', url: `${link.pathname}${link.search}` });
    const linkCookie = `__Host-ap_link_magic=${cookieValue(landed, '__Host-ap_link_magic')}`;
    // Without the cookie the bare page has nothing to spend.
    const bare = await call(t.app, { method: 'GET', url: '/auth/ui/magic-link/verify' });
    expect(bare.statusCode).toBe(400);
    const page = await call(t.app, { method: 'GET', url: '/auth/ui/magic-link/verify', headers: { cookie: linkCookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(token);
    const both = `${linkCookie}; __Host-ap_ui=${cookieValue(page, '__Host-ap_ui')}`;
    const csrf2 = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const used = await post('/auth/ui/magic-link/verify', { _csrf: csrf2 }, { cookie: both });
    expect(used.statusCode, used.body).toBe(303);
    expect(cookieValue(used, '__Host-ap_access')).toBeTruthy();
    const again = await post('/auth/ui/magic-link/verify', { _csrf: csrf2 }, { cookie: both });
    expect(again.statusCode).toBe(401);
    // The REST route agrees: the token is spent.
    const api = await call(t.app, { method: 'POST', url: '/auth/instant-link/verify', json: { token } });
    expect(api.statusCode).toBe(401);
  });

  it('a GET on the verify landing leaves the token usable by the REST route', async () => {
    const email = address();
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    await call(t.app, { method: 'POST', url: '/auth/email/verify/request', json: { email } });
    await t.deps.services.mailer.drain();
    const mail = mailsTo(t.config.dataDir, email).at(-1)!;
    const link = new URL(mail.text.match(/https?:\/\/\S+token=\S+/)![0]);
    expect(link.pathname).toBe('/auth/ui/verify-email');
    await call(t.app, { method: 'GET', url: `${link.pathname}${link.search}` });
    const api = await call(t.app, { method: 'POST', url: '/auth/email/verify', json: { token: tokenIn(link.toString()) } });
    expect(api.statusCode, api.body).toBe(200);
  });
});

describe('pages: rate limits and enumeration', () => {
  it('a page form is limited with its API route\'s class (tenant override applies), answering 429 with Retry-After', async () => {
    const { cookie } = await formOf('/auth/ui/sign-in?tenant=tight', '/auth/ui/sign-in?tenant=tight');
    const statuses: number[] = [];
    let last: Res | undefined;
    for (let i = 0; i < 4; i++) {
      last = await post('/auth/ui/sign-in?tenant=tight', { email: 'x@example.com', password: 'wrong password here', _csrf: 'x' }, { cookie });
      statuses.push(last.statusCode);
    }
    expect(statuses.slice(0, 3)).not.toContain(429);
    expect(statuses[3]).toBe(429);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.headers['content-type']).toMatch(/^text\/html/);
  });

  it('forgot-password and a failed sign-in answer the same for known and unknown addresses', async () => {
    const known = address();
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email: known, password: PASSWORD } });
    const strip = (s: string) => s.replace(/nonce="[^"]+"|value="[^"]{20,}"|[0-9a-f-]{36}/g, '').replace(/value="[^"]*@example.com"/g, '');
    const answers: { status: number; body: string }[] = [];
    for (const email of [known, address()]) {
      const f = await formOf('/auth/ui/forgot-password', '/auth/ui/forgot-password');
      const r = await post('/auth/ui/forgot-password', { email, _csrf: f.csrf }, { cookie: f.cookie });
      const s = await formOf('/auth/ui/sign-in', '/auth/ui/sign-in');
      const l = await post('/auth/ui/sign-in', { email, password: 'not the password at all', _csrf: s.csrf }, { cookie: s.cookie });
      answers.push({ status: r.statusCode * 1000 + l.statusCode, body: strip(r.body) + strip(l.body) });
    }
    expect(answers[0]!.status).toBe(200 * 1000 + 401);
    expect(answers[1]).toEqual(answers[0]);
  });
});

describe('pages: UI_ENABLED=false', () => {
  it('registers no page', async () => {
    const off = await createTestApp({ env: { UI_ENABLED: 'false' }, stores: t.stores });
    try {
      const r = await call(off.app, { method: 'GET', url: '/auth/ui/sign-in' });
      expect(r.statusCode).toBe(404);
      expect(r.headers['content-type']).toMatch(/json/);
    } finally {
      await off.close();
    }
  });
});
