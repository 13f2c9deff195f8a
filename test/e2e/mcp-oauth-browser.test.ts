import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as jose from 'jose';
import type { Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { chromiumMissing, launchChromium, screenshot } from '../helpers/chromium.js';
import { freePort } from '../helpers/cli.js';
import { newEmail, PASSWORD, raiseLimits, register } from '../helpers/identity.js';
import { loopbackCallback } from '../helpers/oidc-rp.js';
import { grantStore } from '../../src/modules/oidc-provider/grant-store.js';
import { GRANT_CHECK_TTL_MS } from '../../src/modules/mcp/oauth-grants.js';

/**
 * The MCP authorization flow end to end (issue 23, "Done when"): an MCP client built with
 * @modelcontextprotocol/sdk's Client, StreamableHTTPClientTransport and an OAuthClientProvider meets a 401
 * on /mcp, discovers the tenant's authorization server from the protected-resource metadata the 401 names,
 * registers itself dynamically (RFC 7591), sends the user to the authorization URL — which a person walks
 * in Debian's Chromium: the hosted sign-in page, then the consent page (photographed into docs/img/) —
 * exchanges the code (PKCE S256, resource = <PUBLIC_URL>/mcp) and calls tools with the token it got.
 * Everything is real: the app listens on a port, the client talks HTTP, the browser is a browser.
 */
const missing = chromiumMissing();
if (missing) console.warn(`[mcp-oauth-browser] SKIPPED: ${missing}`);

/** An OAuthClientProvider as an MCP host keeps one: in memory, the redirect handed to the test's "browser". */
class MemoryProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  registrations = 0;
  constructor(readonly redirect: string) {}
  get redirectUrl() { return this.redirect; }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test MCP host', redirect_uris: [this.redirect], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none',
    };
  }
  state() { return 'st-' + Math.random().toString(36).slice(2); }
  clientInformation() { return this.info; }
  saveClientInformation(i: OAuthClientInformationMixed) { this.info = i; this.registrations++; }
  tokens() { return this.saved; }
  saveTokens(t: OAuthTokens) { this.saved = t; }
  redirectToAuthorization(url: URL) { this.authorizationUrl = url; }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

describe.skipIf(missing !== null)('an MCP client signs in with OAuth through the hosted pages in Chromium', () => {
  let t: TestApp;
  let origin: string;
  let callback: Awaited<ReturnType<typeof loopbackCallback>>;
  let callbackUrl: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let userId: string;
  let email: string;
  let codes: URL[] = [];

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = await createTestApp({ env: { PUBLIC_URL: origin } });
    await raiseLimits(t);
    const def = await t.deps.tenants.defaultTenant();
    // The OpenID Provider lets this tenant's MCP clients register themselves (loopback redirects by default).
    await t.deps.tenants.update(def.id, { settings: { ...def.settings, allowedOrigins: [origin], oidcDynamicRegistration: true } as never });
    await t.app.listen({ port, host: '127.0.0.1' });
    // The MCP host's loopback redirect: records what the authorization server sends back.
    callback = await loopbackCallback('You can close this window.');
    callbackUrl = callback.url;
    codes = callback.received;
    email = newEmail('mcp-oauth');
    userId = (await register(t.app, { email, password: PASSWORD })).userId;
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await callback?.close();
    await t?.close();
  });

  /** A person in Chromium: sign in on the hosted page, look at the consent page, allow. Returns the callback URL. */
  async function authorizeInBrowser(url: URL, shot: string): Promise<URL> {
    const before = codes.length;
    await page.goto(url.href);
    const emailField = page.locator('#f-email');
    if (await emailField.count() > 0 || await emailField.waitFor({ timeout: 5_000 }).then(() => true, () => false)) {
      await page.fill('#f-email', email);
      await page.fill('#f-password', PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    }
    const allow = page.getByRole('button', { name: 'Allow' });
    await allow.waitFor({ timeout: 15_000 });
    const text = await page.textContent('body');
    expect(text).toContain('Test MCP host');
    expect(text).toMatch(/mcp:read|read/i);
    await screenshot(page, 'mcp-oauth', shot);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callbackUrl), { timeout: 15_000 }), allow.click()]);
    expect(codes.length).toBe(before + 1);
    return codes[codes.length - 1]!;
  }

  it('401 → protected-resource metadata → dynamic registration → sign-in and consent in Chromium → token → tools/call', async () => {
    const provider = new MemoryProvider(callbackUrl);
    const mcpUrl = new URL(`${origin}/mcp`);

    // 1. No token: the transport meets 401 + WWW-Authenticate, discovers, registers and asks for the browser.
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'mcp-oauth-e2e', version: '1.0.0' });
    await expect(client.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.registrations).toBe(1);
    expect(provider.info?.client_id).toBeTruthy();
    const authUrl = provider.authorizationUrl!;
    expect(authUrl.href.startsWith(`${origin}/oidc/default/`)).toBe(true);
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('resource')).toBe(`${origin}/mcp`);
    expect(authUrl.searchParams.get('scope')?.split(' ').sort()).toEqual(['mcp:read', 'mcp:write']);

    // 2. The person signs in and consents; the code comes back to the loopback redirect.
    const back = await authorizeInBrowser(authUrl, 'mcp-oauth-consent');
    expect(back.searchParams.get('error')).toBeNull();
    const code = back.searchParams.get('code');
    expect(code).toBeTruthy();

    // 3. The transport exchanges the code (PKCE) for tokens. oidc-provider stamps iat with the real clock;
    //    the app's manual test clock has stood still since the start (under load, longer than the 30 s leeway
    //    for an iat "in the future"), so it is brought to the real time first.
    t.clock.set(Date.now());
    await first.finishAuth(code!);
    const access = provider.saved!.access_token;
    expect(jose.decodeProtectedHeader(access)).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' });
    expect(jose.decodeJwt(access)).toMatchObject({ iss: `${origin}/oidc/default`, aud: `${origin}/mcp`, sub: userId, client_id: provider.info!.client_id });

    // 4. Connected with the token it got, the client calls tools as the user who consented.
    const again = new Client({ name: 'mcp-oauth-e2e', version: '1.0.0' });
    await again.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    try {
      const who = await again.callTool({ name: 'whoami', arguments: {} });
      expect(who.isError).toBeFalsy();
      const s = who.structuredContent as { principal: string; user: { id: string }; oauth: { clientId: string; scopes: string[] } };
      expect(s.principal).toBe('user');
      expect(s.user.id).toBe(userId);
      expect(s.oauth.clientId).toBe(provider.info!.client_id);
      const names = (await again.listTools()).tools.map((x) => x.name);
      expect(names).toContain('list_sessions');
      expect(names).not.toContain('create_api_key');
    } finally {
      await again.close();
    }
    const audit = (await t.deps.audit.list({ action: 'mcp.tool_call', limit: 20 })).items;
    expect(audit.some((r) => r.actor_id === userId && (r.metadata as Record<string, unknown>).clientId === provider.info!.client_id)).toBe(true);

    // 5. The user withdraws the consent (what the account page's "connected apps" does): the same access
    //    token stops working on /mcp once the grant check's 5 s are over.
    const def = await t.deps.tenants.defaultTenant();
    const grants = await grantStore.listForAccount(t.deps.sql, t.deps.clock, def.id, userId);
    const mine = grants.find((g) => g.clientId === provider.info!.client_id);
    expect(mine?.scopes).toEqual(expect.arrayContaining(['mcp:read', 'mcp:write']));
    expect(await grantStore.revokeForAccount(t.deps.sql, def.id, userId, mine!.grantId)).toBe(provider.info!.client_id);
    t.clock.advance(GRANT_CHECK_TTL_MS + 1);
    const res = await fetch(mcpUrl, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  }, 180_000);
});
