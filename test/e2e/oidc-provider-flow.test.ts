import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import * as jose from 'jose';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { newEmail, PASSWORD, raiseLimits } from '../helpers/identity.js';
import { appFetch, authorizationRequest, browserAuthorize, rpConfig, TestBrowser } from '../helpers/oidc-rp.js';
import { totpAt } from '../../src/modules/mfa/totp.js';

/**
 * Authplane as an OpenID Provider (issue 23), with openid-client as the relying party against the real
 * app (both backends): authorization code + PKCE through the hosted sign-in (password, MFA) and consent
 * pages, the at+jwt for the MCP resource, refresh rotation with reuse detection, userinfo, introspection,
 * revocation, client credentials, remembered consent, logout.
 */
const ISSUER = `${TEST_PUBLIC_URL}/oidc/default`;
const MCP = `${TEST_PUBLIC_URL}/mcp`;
const CB = 'http://127.0.0.1:8765/callback';
const WEB_CB = 'https://rp.example/cb';
const AFTER_LOGOUT = 'https://rp.example/signed-out';
let t: TestApp;
let adminKey: string;
let jwks: ReturnType<typeof jose.createLocalJWKSet>;

async function createClient(body: Record<string, unknown>, tenant = 'default') {
  const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: tenant, ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.data as { clientId: string; clientSecret?: string };
}

async function newUser() {
  const email = newEmail('op');
  const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } });
  expect(reg.statusCode, reg.body).toBe(200);
  return { email, userId: reg.data.user.id as string, accessToken: reg.data.tokens.accessToken as string };
}

const auditCount = async (action: string, target?: string) => (await t.stores.sql.ownerQuery<{ n: number }>(
  `SELECT count(*)::int AS n FROM audit_events WHERE action = $1 ${target ? 'AND target = $2' : ''}`, target ? [action, target] : [action])).rows[0]!.n;

/** Signs `email` in through the pages and exchanges the code; returns the tokens. */
async function signIn(config: client.Configuration, o: { email: string; scope: string; resource?: string; redirectUri?: string; browser?: TestBrowser; totp?: () => string; extra?: Record<string, string> }) {
  const redirectUri = o.redirectUri ?? CB;
  const req = await authorizationRequest(config, { redirectUri, scope: o.scope, resource: o.resource, extra: o.extra });
  const b = o.browser ?? new TestBrowser(t.app);
  const done = await browserAuthorize(b, req.url, { redirectUri, email: o.email, totp: o.totp });
  const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
  return { tokens, done, browser: b };
}

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  adminKey = (await t.deps.adminKeys.create({ name: 'oidc-test', expiresInDays: 1 })).key;
  jwks = jose.createLocalJWKSet(JSON.parse((await call(t.app, { method: 'GET', url: '/.well-known/jwks.json' })).body));
}, 120_000);
afterAll(async () => { await t?.close(); });

describe('OpenID Provider: discovery', () => {
  it('publishes OpenID and RFC 8414 metadata for the tenant issuer: code only, S256 only, the shared JWKS', async () => {
    const oidc = await call(t.app, { method: 'GET', url: '/oidc/default/.well-known/openid-configuration' });
    expect(oidc.statusCode, oidc.body).toBe(200);
    expect(oidc.data).toMatchObject({ issuer: ISSUER, response_types_supported: ['code'], code_challenge_methods_supported: ['S256'], token_endpoint: `${ISSUER}/token`, jwks_uri: `${ISSUER}/jwks` });
    expect(oidc.data.grant_types_supported).not.toContain('implicit');
    expect(oidc.data.grant_types_supported).not.toContain('password');
    const as = await call(t.app, { method: 'GET', url: '/.well-known/oauth-authorization-server/oidc/default' });
    expect(as.statusCode).toBe(200);
    expect(as.data.issuer).toBe(ISSUER);
    const keys = await call(t.app, { method: 'GET', url: '/oidc/default/jwks' });
    expect(keys.data).toEqual(JSON.parse((await call(t.app, { method: 'GET', url: '/.well-known/jwks.json' })).body));
    expect((await call(t.app, { method: 'GET', url: '/oidc/no-such-tenant/.well-known/openid-configuration' })).statusCode).toBe(404);
  });
});

describe('OpenID Provider: authorization code + PKCE', () => {
  it('a public client signs a user in with a password through the hosted pages and gets an at+jwt for the MCP resource', async () => {
    const u = await newUser();
    const { clientId } = await createClient({ name: 'Test app', redirectUris: [CB], type: 'public', scopes: ['openid', 'email', 'offline_access', 'mcp:read'] });
    const config = await rpConfig(t.app, ISSUER, clientId);
    const { tokens, done } = await signIn(config, { email: u.email, scope: 'openid email offline_access mcp:read', resource: MCP, extra: { prompt: 'consent' } });
    expect(done.sawSignIn && done.sawConsent).toBe(true);
    const at = tokens.access_token;
    expect(jose.decodeProtectedHeader(at)).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' });
    const { payload } = await jose.jwtVerify(at, jwks, { issuer: ISSUER, audience: MCP, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: u.userId, client_id: clientId, scope: 'mcp:read' });
    expect(typeof payload.jti).toBe('string');
    expect(tokens.claims()!.sub).toBe(u.userId);
    expect(await auditCount('oidc.consent', clientId)).toBe(1);
    expect(await auditCount('oidc.token', clientId)).toBeGreaterThanOrEqual(1);

    // Refresh: rotated on every use; the rotated-out token used again revokes the grant.
    const r1 = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(r1.refresh_token).toBeTruthy();
    expect(r1.refresh_token).not.toBe(tokens.refresh_token);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(config, r1.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a user with MFA completes the TOTP step on the hosted page before the code is issued', async () => {
    const u = await newUser();
    const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    expect(setup.statusCode, setup.body).toBe(200);
    const secret = setup.data.secret as string;
    const code = () => { t.clock.advance(30_000); return totpAt(secret, Math.floor(t.clock.nowMs() / 1000)); };
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: code() } })).statusCode).toBe(200);
    const { clientId } = await createClient({ name: 'MFA app', redirectUris: [CB], type: 'public', scopes: ['openid', 'email'] });
    const config = await rpConfig(t.app, ISSUER, clientId);
    let asked = 0;
    const { tokens } = await signIn(config, { email: u.email, scope: 'openid email', totp: () => { asked++; return code(); } });
    expect(asked).toBe(1);
    expect(tokens.claims()!.sub).toBe(u.userId);
  });

  it('consent is remembered across browser sessions, listed on the account page, and asked again once revoked there', async () => {
    const u = await newUser();
    // A web client (https redirect): oidc-provider asks native clients (loopback, custom schemes) every time (RFC 8252 §8.6).
    const { clientId } = await createClient({ name: 'Remembered app', redirectUris: [WEB_CB], type: 'public', scopes: ['openid', 'email'] });
    const config = await rpConfig(t.app, ISSUER, clientId);
    const first = await signIn(config, { email: u.email, scope: 'openid email', redirectUri: WEB_CB });
    expect(first.done.sawConsent).toBe(true);
    const second = await signIn(config, { email: u.email, scope: 'openid email', redirectUri: WEB_CB });
    expect(second.done.sawSignIn).toBe(true);
    expect(second.done.sawConsent).toBe(false);
    // The sign-in POST's redirects now end at the client: its form-action names the client's origin (and no other).
    expect(second.done.signInCsp).toMatch(/form-action 'self' https:\/\/rp\.example(;|$)/);

    // The account page lists the app and revokes it with a form POST.
    const b = second.browser;
    const page = await b.follow('/auth/ui/account/apps', 'never:');
    expect(page.res.status, page.body.slice(0, 500)).toBe(200);
    expect(page.body).toContain('Remembered app');
    const action = /<form method="post" action="([^"]*\/account\/apps\/[^"]+\/revoke[^"]*)"/.exec(page.body)![1]!.replace(/&amp;/g, '&');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body.slice(page.body.indexOf(action.replace(/&/g, '&amp;'))))![1]!;
    const revoked = await b.request(action, { form: { _csrf: csrf } });
    expect(revoked.status).toBe(303);
    expect(await auditCount('oidc.consent_revoke', clientId)).toBe(1);
    const third = await signIn(config, { email: u.email, scope: 'openid email', redirectUri: WEB_CB });
    expect(third.done.sawConsent).toBe(true);
  });

  it('userinfo, introspection and revocation for a confidential client', async () => {
    const u = await newUser();
    const { clientId, clientSecret } = await createClient({ name: 'Web app', redirectUris: [WEB_CB], type: 'confidential', scopes: ['openid', 'email', 'offline_access'] });
    expect(clientSecret).toMatch(/^ocs_/);
    const stored = await t.stores.sql.ownerQuery<{ secret_hash: string; metadata: unknown }>('SELECT secret_hash, metadata FROM oidc_clients WHERE client_id = $1', [clientId]);
    expect(JSON.stringify(stored.rows[0])).not.toContain(clientSecret);
    const config = await rpConfig(t.app, ISSUER, clientId, clientSecret);
    const { tokens } = await signIn(config, { email: u.email, scope: 'openid email offline_access', redirectUri: WEB_CB, extra: { prompt: 'consent' } });
    const info = await client.fetchUserInfo(config, tokens.access_token, u.userId);
    expect(info).toMatchObject({ sub: u.userId, email: u.email });
    expect((await client.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(true);
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    await client.tokenRevocation(config, tokens.refresh_token!);
    expect((await client.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await auditCount('oidc.revoke', clientId)).toBe(1);
    expect(await auditCount('oidc.introspect', clientId)).toBe(3);
    // A wrong secret is refused.
    const wrong = await rpConfig(t.app, ISSUER, clientId, `${clientSecret}x`);
    await expect(client.tokenIntrospection(wrong, tokens.access_token)).rejects.toMatchObject({ status: 401, cause: [{ parameters: { error: 'invalid_client' } }] });
  });

  it('RP-initiated logout ends the provider session and returns to the registered post-logout URI', async () => {
    const u = await newUser();
    const { clientId, clientSecret } = await createClient({ name: 'Logout app', redirectUris: [WEB_CB], postLogoutRedirectUris: [AFTER_LOGOUT], type: 'confidential', scopes: ['openid'] });
    const config = await rpConfig(t.app, ISSUER, clientId, clientSecret);
    const { tokens, browser } = await signIn(config, { email: u.email, scope: 'openid', redirectUri: WEB_CB });
    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye' });
    const confirm = await browser.follow(end.href, AFTER_LOGOUT);
    expect(confirm.res.status).toBe(200);
    const action = /<form[^>]*action="([^"]+)"/.exec(confirm.body)![1]!;
    const fields: Record<string, string> = { logout: 'yes' };
    for (const x of confirm.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[x[1]!] = x[2]!;
    const out = await browser.follow(action, AFTER_LOGOUT, { form: fields });
    expect(out.url).toBe(`${AFTER_LOGOUT}?state=bye`);
    expect(await auditCount('oidc.logout', clientId)).toBe(1);
  });
});

describe('OpenID Provider: organizations', () => {
  it('scope org + org=<id>: the consent page names the org and the at+jwt carries org and the member\'s roles; a foreign org is refused', async () => {
    const u = await newUser();
    const org = await call(t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: 'Acme' } });
    expect(org.statusCode, org.body).toBe(200);
    const other = await newUser();
    const foreign = await call(t.app, { method: 'POST', url: '/auth/orgs', token: other.accessToken, json: { name: 'Other' } });
    const { clientId } = await createClient({ name: 'Org app', redirectUris: [WEB_CB], type: 'public', scopes: ['openid', 'org', 'mcp:read'] });
    const config = await rpConfig(t.app, ISSUER, clientId);
    const { tokens } = await signIn(config, { email: u.email, scope: 'openid org mcp:read', resource: MCP, redirectUri: WEB_CB, extra: { org: org.data.id } });
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: ISSUER, audience: MCP });
    expect(payload).toMatchObject({ sub: u.userId, org: org.data.id, roles: ['owner'] });

    const req = await authorizationRequest(config, { redirectUri: WEB_CB, scope: 'openid org mcp:read', resource: MCP, extra: { org: foreign.data.id } });
    const b = new TestBrowser(t.app);
    await expect(browserAuthorize(b, req.url, { redirectUri: WEB_CB, email: u.email })).rejects.toThrow(/400/);
  });
});

describe('OpenID Provider: client credentials', () => {
  it('a confidential service client gets an at+jwt for the MCP resource whose sub is its client id; a public client cannot be made one', async () => {
    const { clientId, clientSecret } = await createClient({ name: 'Service', type: 'confidential', grantTypes: ['client_credentials'], scopes: ['mcp:read'] });
    const config = await rpConfig(t.app, ISSUER, clientId, clientSecret);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'mcp:read', resource: MCP });
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: ISSUER, audience: MCP });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: clientId, client_id: clientId, scope: 'mcp:read' });
    await expect(client.clientCredentialsGrant(config, { scope: 'mcp:write', resource: MCP })).rejects.toMatchObject({ error: 'invalid_scope' });
    const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: 'default', name: 'x', type: 'public', grantTypes: ['client_credentials'], scopes: ['mcp:read'] } });
    expect(res.statusCode).toBe(400);
    expect(res.data.error).toBe('validation_failed');
  });
});

export { appFetch };
