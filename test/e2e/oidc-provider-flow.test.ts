import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import * as jose from 'jose';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { newEmail, PASSWORD, raiseLimits } from '../helpers/identity.js';
import { authorizationRequest, browserAuthorize, rpConfig, TestBrowser } from '../helpers/oidc-rp.js';

/**
 * Authplane as an OpenID Provider (issue 23), with openid-client as the relying party against the real
 * app: authorization code + PKCE through the hosted sign-in and consent pages, the at+jwt for the MCP
 * resource, refresh rotation with reuse detection, userinfo, introspection, revocation, logout.
 */
const ISSUER = `${TEST_PUBLIC_URL}/oidc/default`;
const MCP = `${TEST_PUBLIC_URL}/mcp`;
const CB = 'http://127.0.0.1:8765/callback';
let t: TestApp;
let adminKey: string;

async function createClient(body: Record<string, unknown>, tenant = 'default') {
  const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: tenant, ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.data as { clientId: string; clientSecret?: string };
}

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  adminKey = (await t.deps.adminKeys.create({ name: 'oidc-test', expiresInDays: 1 })).key;
}, 120_000);
afterAll(async () => { await t?.close(); });

describe('OpenID Provider: authorization code + PKCE', () => {
  it('a public client signs a user in with a password through the hosted pages and gets an at+jwt for the MCP resource', async () => {
    const email = newEmail('op');
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
    expect(reg.statusCode, reg.body).toBe(200);
    const { clientId } = await createClient({ name: 'Test app', redirectUris: [CB], type: 'public', scopes: ['openid', 'email', 'offline_access', 'mcp:read'] });
    const config = await rpConfig(t.app, ISSUER, clientId);
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid email offline_access mcp:read', resource: MCP, extra: { prompt: 'consent' } });
    const b = new TestBrowser(t.app);
    const done = await browserAuthorize(b, req.url, { redirectUri: CB, email });
    expect(done.sawSignIn && done.sawConsent).toBe(true);
    const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
    const at = tokens.access_token;
    expect(jose.decodeProtectedHeader(at)).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' });
    const jwks = jose.createLocalJWKSet(JSON.parse((await call(t.app, { method: 'GET', url: '/.well-known/jwks.json' })).body));
    const { payload } = await jose.jwtVerify(at, jwks, { issuer: ISSUER, audience: MCP, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: reg.data.user.id, client_id: clientId, scope: 'mcp:read' });
    expect(tokens.claims()!.sub).toBe(reg.data.user.id);
    expect(tokens.refresh_token).toBeTruthy();
  });
});
