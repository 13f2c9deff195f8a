import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { chromiumMissing, launchChromium } from '../helpers/chromium.js';
import type { ModuleDef } from '../../src/modules/module.js';
import { RAISED_LIMITS } from '../integration/solana/wallet.js';
import { freePort } from '../helpers/cli.js';

/**
 * A real browser registers a passkey and signs in with it: headless Chromium with a CDP virtual
 * authenticator (CTAP2, internal, resident keys, user verification) runs navigator.credentials
 * against the running server, from a page served on the server's own origin (http://localhost is
 * a secure context, so WebAuthn is available without TLS).
 */
const missing = chromiumMissing();
if (missing) console.warn(`[passkeys-browser] SKIPPED: ${missing}`);

// The page's script: WebAuthn JSON <-> ArrayBuffers, the four calls, nothing else.
const PAGE = `<!doctype html><meta charset="utf-8"><title>passkey test</title><script>
const b2a = (s) => { s = s.replace(/-/g, '+').replace(/_/g, '/'); s += '='.repeat((4 - s.length % 4) % 4); return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); };
const a2b = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
async function api(path, body, token) {
  const r = await fetch(path, { method: 'POST', credentials: 'omit', headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) }, body: JSON.stringify(body ?? {}) });
  return { status: r.status, data: await r.json() };
}
const ids = (list) => (list || []).map((c) => ({ ...c, id: b2a(c.id) }));
window.registerPasskey = async (token) => {
  const o = await api('/auth/passkeys/register/options', {}, token);
  if (o.status !== 200) return o;
  const p = o.data;
  const cred = await navigator.credentials.create({ publicKey: { ...p, challenge: b2a(p.challenge), user: { ...p.user, id: b2a(p.user.id) }, excludeCredentials: ids(p.excludeCredentials) } });
  // The browser's own JSON (PublicKeyCredential.toJSON), as real clients send it.
  return api('/auth/passkeys/register/verify', { ...cred.toJSON(), name: 'Chromium' }, token);
};
window.signInWithPasskey = async (email) => {
  const o = await api('/auth/passkeys/login/options', email ? { email } : {});
  if (o.status !== 200) return o;
  const p = o.data;
  const cred = await navigator.credentials.get({ publicKey: { ...p, challenge: b2a(p.challenge), allowCredentials: ids(p.allowCredentials) } });
  const r = cred.response;
  return api('/auth/passkeys/login/verify', { id: cred.id, rawId: a2b(cred.rawId), type: cred.type,
    response: { clientDataJSON: a2b(r.clientDataJSON), authenticatorData: a2b(r.authenticatorData), signature: a2b(r.signature), userHandle: r.userHandle ? a2b(r.userHandle) : undefined },
    clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment ?? undefined });
};
</script><p>ready</p>`;

/** Serves the page at /test-page on the app's origin (test only). */
const testPage: ModuleDef = {
  name: 'test-page',
  mount: 'root',
  plugin: async (app) => {
    app.get('/test-page', { config: { auth: 'public', rateLimit: 'none' }, schema: { hide: true } }, async (_req, reply) => {
      // The API's CSP forbids scripts; this test page needs its own inline script and same-origin fetch.
      reply.header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'");
      return reply.type('text/html; charset=utf-8').send(PAGE);
    });
  },
};


describe.skipIf(missing !== null)('passkeys in a real browser (Chromium + CDP virtual authenticator)', () => {
  let t: TestApp;
  let origin: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = await createTestApp({ env: { PUBLIC_URL: origin }, extraModules: [testPage] });
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { ...RAISED_LIMITS, allowedOrigins: [origin] } });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await launchChromium();
    context = browser.context;
    page = context.pages()[0] ?? await context.newPage();
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
    await page.goto(`${origin}/test-page`);
    await page.waitForFunction(() => typeof (window as unknown as { registerPasskey?: unknown }).registerPasskey === 'function');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('registers a passkey, then signs in with it by email and as a discoverable credential', async () => {
    const email = `browser-${Date.now()}@example.com`;
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: 'correct horse battery staple' } });
    expect(reg.statusCode, reg.body).toBe(200);

    const created = await page.evaluate((token) => (window as unknown as { registerPasskey(t: string): Promise<{ status: number; data: any }> }).registerPasskey(token), reg.data.tokens.accessToken as string);
    expect(created.status, JSON.stringify(created.data)).toBe(201);
    expect(created.data).toMatchObject({ name: 'Chromium', deviceType: 'singleDevice', backedUp: false });

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    expect(credentials[0]!.rpId).toBe('localhost');

    type Login = { status: number; data: any };
    const byEmail = await page.evaluate((e) => (window as unknown as { signInWithPasskey(e?: string): Promise<Login> }).signInWithPasskey(e), email);
    expect(byEmail.status, JSON.stringify(byEmail.data)).toBe(200);
    expect(byEmail.data.user.id).toBe(reg.data.user.id);
    expect(decodeJwt(byEmail.data.tokens.accessToken).amr).toEqual(['hwk']);

    const discoverable = await page.evaluate(() => (window as unknown as { signInWithPasskey(e?: string): Promise<Login> }).signInWithPasskey());
    expect(discoverable.status, JSON.stringify(discoverable.data)).toBe(200);
    expect(discoverable.data.user.id).toBe(reg.data.user.id);

    const { rows } = await t.stores.sql.ownerQuery<{ counter: string }>('SELECT counter FROM passkey_credentials WHERE user_id = $1', [reg.data.user.id]);
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(Number(rows[0]!.counter)).toBe(after.credentials[0]!.signCount);
  });

  it('refuses a sign-in once the authenticator\'s counter goes back (a cloned authenticator)', async () => {
    const email = `clone-${Date.now()}@example.com`;
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: 'correct horse battery staple' } });
    const created = await page.evaluate((token) => (window as unknown as { registerPasskey(t: string): Promise<{ status: number }> }).registerPasskey(token), reg.data.tokens.accessToken as string);
    expect(created.status).toBe(201);
    type Login = { status: number; data: any };
    const signIn = () => page.evaluate((e) => (window as unknown as { signInWithPasskey(e?: string): Promise<Login> }).signInWithPasskey(e), email);
    expect((await signIn()).status).toBe(200);
    expect((await signIn()).status).toBe(200);
    // Wind this credential's counter back, as a clone of the authenticator would report it.
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const mine = credentials.find((c) => c.userHandle === Buffer.from(reg.data.user.id.replace(/-/g, ''), 'hex').toString('base64'))!;
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: mine.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...mine, signCount: 0 } });
    const cloned = await signIn();
    expect(cloned.status).toBe(401);
    const { rows } = await t.stores.sql.ownerQuery<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE action = 'passkey.counter_regression' AND actor_id = $1", [reg.data.user.id]);
    expect(rows[0]!.n).toBe(1);
  });
});
