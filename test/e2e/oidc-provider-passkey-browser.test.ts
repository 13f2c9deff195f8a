import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync } from 'node:fs';
import * as client from 'openid-client';
import * as jose from 'jose';
import type { CDPSession, Page } from 'playwright-core';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { addVirtualAuthenticator, chromiumMissing, launchChromium, registerPasskeyFromHostedPage, screenshot } from '../helpers/chromium.js';
import { freePort } from '../helpers/cli.js';
import { newEmail, raiseLimits, register } from '../helpers/identity.js';
import { authorizationRequest, loopbackCallback } from '../helpers/oidc-rp.js';

/**
 * Issue 23, "Done when": code + PKCE with a passkey sign-in. openid-client is the relying party of an
 * admin-registered public client; a person in Debian's Chromium, whose passkey lives in a CDP virtual
 * authenticator, follows the authorization URL to the hosted sign-in page, presses its passkey button,
 * allows on the consent page and is sent to the client's loopback redirect_uri (a listener of the test);
 * openid-client exchanges the code with the PKCE verifier. The same flow with a wrong verifier is refused.
 * Everything is real: the app listens on a port, the RP talks HTTP, the browser runs the page's own script.
 * The sign-in page is photographed into test-output/oidc-passkey/; with UPDATE_DOCS_IMAGES=1 also into
 * docs/img/oidc-sign-in-passkey.png.
 */
const missing = chromiumMissing();
if (missing) console.warn(`[oidc-provider-passkey-browser] SKIPPED: ${missing}`);

describe.skipIf(missing !== null)('OpenID Provider: code + PKCE with a passkey sign-in in Chromium', () => {
  let t: TestApp;
  let origin: string;
  let issuer: string;
  let redirectUri: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let config: client.Configuration;
  let clientId: string;
  let user: { userId: string; email: string; accessToken: string };
  let callback: Awaited<ReturnType<typeof loopbackCallback>>;
  let callbacks: URL[] = [];

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    issuer = `${origin}/oidc/default`;
    // The client's loopback redirect (a native app).
    callback = await loopbackCallback('Signed in.');
    redirectUri = callback.url;
    callbacks = callback.received;
    t = await createTestApp({ env: { PUBLIC_URL: origin } });
    await raiseLimits(t);
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { ...def.settings, allowedOrigins: [origin] } as never });
    await t.app.listen({ port, host: '127.0.0.1' });

    const adminKey = (await t.deps.adminKeys.create({ name: 'oidc-passkey', expiresInDays: 1 })).key;
    const created = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: 'default', name: 'Passkey RP', redirectUris: [redirectUri], type: 'public', scopes: ['openid', 'email'] } });
    expect(created.statusCode, created.body).toBe(201);
    clientId = created.data.clientId as string;
    config = await client.discovery(new URL(issuer), clientId, {}, client.None(), { execute: [client.allowInsecureRequests] });

    const email = newEmail('op-passkey');
    const reg = await register(t.app, { email });
    user = { userId: reg.userId, email, accessToken: reg.accessToken };

    browser = await launchChromium();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    ({ cdp, authenticatorId } = await addVirtualAuthenticator(browser.context, page));
    // The user's passkey, registered from a hosted page (what the account page does); then no session is left.
    await page.goto(`${origin}/auth/ui/sign-in`);
    expect(await registerPasskeyFromHostedPage(page, user.accessToken)).toBe(201);
    await browser.context.clearCookies();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await callback?.close();
    await t?.close();
  });

  /** The person in Chromium: from the authorization URL through sign-in (when asked) and consent to the redirect. */
  async function authorize(url: URL, o: { passkey: boolean; shot?: string }): Promise<URL> {
    const before = callbacks.length;
    await page.goto(url.href);
    if (o.passkey) {
      const button = page.locator('#passkey-button');
      await button.waitFor({ state: 'visible', timeout: 15_000 });
      expect(new URL(page.url()).pathname).toBe('/auth/ui/sign-in');
      if (o.shot) {
        const shot = await screenshot(page, 'oidc-passkey', o.shot);
        if (process.env.UPDATE_DOCS_IMAGES === '1') copyFileSync(shot, `docs/img/${o.shot}.png`);
      }
      await Promise.all([page.waitForNavigation(), button.click()]);
    }
    const allow = page.getByRole('button', { name: 'Allow' });
    await allow.waitFor({ timeout: 15_000 });
    expect(await page.textContent('body')).toContain('Passkey RP');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 15_000 }), allow.click()]);
    expect(callbacks.length).toBe(before + 1);
    return callbacks[callbacks.length - 1]!;
  }

  it('signs in with the passkey on the hosted page, consents, and the RP gets tokens for that user', async () => {
    const signInsBefore = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount;
    const req = await authorizationRequest(config, { redirectUri, scope: 'openid email' });
    const back = await authorize(req.url, { passkey: true, shot: 'oidc-sign-in-passkey' });
    expect(back.searchParams.get('error')).toBeNull();
    // The authenticator signed once more: the sign-in was the passkey's.
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(signInsBefore);

    // oidc-provider stamps iat with the real clock; the app's test clock has stood still since the start.
    t.clock.set(Date.now());
    const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: req.verifier, expectedState: req.state });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: issuer, sub: user.userId, aud: clientId });
    expect(claims.amr).toEqual(['hwk']);
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
    await jose.jwtVerify(tokens.id_token!, jwks, { issuer, audience: clientId });

    const info = await client.fetchUserInfo(config, tokens.access_token, user.userId);
    expect(info).toMatchObject({ sub: user.userId, email: user.email });

    // The hosted session the browser holds is the passkey's sign-in.
    const { rows } = await t.stores.sql.ownerQuery<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE action = 'user.login' AND actor_id = $1 AND metadata->>'method' = 'passkey'", [user.userId]);
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
  }, 180_000);

  it('the same flow with a wrong PKCE verifier is refused with invalid_grant', async () => {
    const req = await authorizationRequest(config, { redirectUri, scope: 'openid email' });
    // Still signed in from the passkey sign-in above: the provider goes straight to consent (asked every time for a loopback client).
    const back = await authorize(req.url, { passkey: false });
    expect(back.searchParams.get('code')).toBeTruthy();
    t.clock.set(Date.now());
    await expect(client.authorizationCodeGrant(config, back, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: req.state }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
  }, 180_000);
});
