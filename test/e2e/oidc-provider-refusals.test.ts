import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { newEmail, PASSWORD, raiseLimits } from '../helpers/identity.js';
import { appFetch, authorizationRequest, browserAuthorize, rpConfig, TestBrowser } from '../helpers/oidc-rp.js';

/**
 * What the OpenID Provider refuses (issue 23): a wrong or foreign redirect URI before any sign-in,
 * PKCE `plain` or no PKCE, a code used twice (its tokens revoked, also when two requests race), a
 * client of one tenant at another tenant's issuer, dynamic registration off / outside the allow-list,
 * and tenant isolation of the provider's tables under RLS.
 */
const ISSUER = `${TEST_PUBLIC_URL}/oidc/default`;
const CB = 'https://rp.example/cb';
const OTHER_CB = 'https://other.example/cb';
let t: TestApp;
let adminKey: string;
let email: string;

async function createClient(body: Record<string, unknown>, tenant = 'default') {
  const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: tenant, ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.data as { clientId: string; clientSecret?: string; tenantId: string };
}

/** GET an authorization URL without any cookie: the provider's own answer. */
const authorize = (url: URL | string) => call(t.app, { method: 'GET', url: typeof url === 'string' ? url : `${url.pathname}${url.search}` });

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  await t.deps.tenants.create({ slug: 'op-other', name: 'Other', settings: { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } } });
  adminKey = (await t.deps.adminKeys.create({ name: 'oidc-refusals', expiresInDays: 1 })).key;
  email = newEmail('opr');
  expect((await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD } })).statusCode).toBe(200);
}, 120_000);
afterAll(async () => { await t?.close(); });

describe('OpenID Provider refusals: redirect URIs and PKCE', () => {
  it('an unregistered or another client\'s redirect URI is refused at the provider, before any sign-in page', async () => {
    const a = await createClient({ name: 'A', redirectUris: [CB], type: 'public', scopes: ['openid'] });
    await createClient({ name: 'B', redirectUris: [OTHER_CB], type: 'public', scopes: ['openid'] });
    const config = await rpConfig(t.app, ISSUER, a.clientId);
    for (const redirectUri of [OTHER_CB, `${CB}/x`, `${CB}?x=1`, 'https://evil.example/cb', 'http://rp.example/cb']) {
      const { url } = await authorizationRequest(config, { redirectUri, scope: 'openid' });
      const res = await authorize(url);
      expect(res.statusCode, redirectUri).toBe(400);
      expect(res.headers.location, redirectUri).toBeUndefined();
      expect(res.body).toContain('redirect_uri');
    }
  });

  it('PKCE plain, a missing code_challenge, and implicit response types are refused without a sign-in', async () => {
    const pub = await createClient({ name: 'P', redirectUris: [CB], type: 'public', scopes: ['openid'] });
    const conf = await createClient({ name: 'C', redirectUris: [CB], type: 'confidential', scopes: ['openid'] });
    for (const c of [pub, conf]) {
      const base = `/oidc/default/auth?client_id=${c.clientId}&redirect_uri=${encodeURIComponent(CB)}&response_type=code&scope=openid&state=s1`;
      const plain = await authorize(`${base}&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain`);
      const none = await authorize(base);
      for (const res of [plain, none]) {
        expect(res.statusCode).toBe(303);
        const loc = new URL(res.headers.location as string);
        expect(`${loc.origin}${loc.pathname}`).toBe(CB);
        expect(loc.searchParams.get('error')).toBe('invalid_request');
      }
      const implicit = await authorize(`/oidc/default/auth?client_id=${c.clientId}&redirect_uri=${encodeURIComponent(CB)}&response_type=token&scope=openid&nonce=n`);
      expect(implicit.statusCode).toBeGreaterThanOrEqual(300);
      expect(String(implicit.headers.location ?? '')).not.toContain('access_token');
      expect(String(implicit.headers.location ?? implicit.body)).toMatch(/unsupported_response_type|invalid_request/);
    }
    const pw = await call(t.app, { method: 'POST', url: '/oidc/default/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=password&username=${encodeURIComponent(email)}&password=x&client_id=${pub.clientId}` });
    expect(pw.statusCode).toBe(400);
    expect(pw.data.error).toBe('unsupported_grant_type');
  });
});

describe('OpenID Provider refusals: codes', () => {
  it('a code used twice is refused and the tokens issued for it are revoked', async () => {
    const c = await createClient({ name: 'Twice', redirectUris: [CB], type: 'confidential', scopes: ['openid', 'offline_access'] });
    const config = await rpConfig(t.app, ISSUER, c.clientId, c.clientSecret);
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid offline_access', extra: { prompt: 'consent' } });
    const done = await browserAuthorize(new TestBrowser(t.app), req.url, { redirectUri: CB, email });
    const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
    expect(tokens.refresh_token).toBeTruthy();
    await expect(client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('N parallel exchanges of one code: exactly one gets tokens, and they end up revoked', async () => {
    const c = await createClient({ name: 'Race', redirectUris: [CB], type: 'confidential', scopes: ['openid', 'offline_access'] });
    const config = await rpConfig(t.app, ISSUER, c.clientId, c.clientSecret);
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid offline_access', extra: { prompt: 'consent' } });
    const done = await browserAuthorize(new TestBrowser(t.app), req.url, { redirectUri: CB, email });
    const code = done.callback.searchParams.get('code')!;
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret!)}`).toString('base64')}`;
    const results = await Promise.all(Array.from({ length: 8 }, () => call(t.app, {
      method: 'POST', url: '/oidc/default/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      payload: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: req.verifier }).toString(),
    })));
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok.length).toBe(1);
    for (const r of results.filter((x) => x.statusCode !== 200)) expect(r.data.error).toBe('invalid_grant');
    expect((await client.tokenIntrospection(config, ok[0]!.data.refresh_token)).active).toBe(false);
  });

  it('N parallel uses of one refresh token: at most one rotates it and the grant ends revoked', async () => {
    const c = await createClient({ name: 'RT race', redirectUris: [CB], type: 'confidential', scopes: ['openid', 'offline_access'] });
    const config = await rpConfig(t.app, ISSUER, c.clientId, c.clientSecret);
    const req = await authorizationRequest(config, { redirectUri: CB, scope: 'openid offline_access', extra: { prompt: 'consent' } });
    const done = await browserAuthorize(new TestBrowser(t.app), req.url, { redirectUri: CB, email });
    const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret!)}`).toString('base64')}`;
    const results = await Promise.all(Array.from({ length: 8 }, () => call(t.app, {
      method: 'POST', url: '/oidc/default/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
    })));
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok.length).toBeLessThanOrEqual(1);
    expect(results.filter((r) => r.statusCode === 400).every((r) => r.data.error === 'invalid_grant')).toBe(true);
    for (const r of ok) expect((await client.tokenIntrospection(config, r.data.refresh_token)).active).toBe(false);
  });
});

describe('OpenID Provider refusals: tenants', () => {
  it('a client of one tenant is unknown at another tenant\'s issuer, and the provider tables are isolated under RLS', async () => {
    const a = await createClient({ name: 'Tenant A app', redirectUris: [CB], type: 'confidential', scopes: ['openid'], grantTypes: ['authorization_code', 'client_credentials'] });
    const other = await t.deps.tenants.resolve('op-other');
    const configB = await rpConfig(t.app, `${TEST_PUBLIC_URL}/oidc/op-other`, a.clientId, a.clientSecret);
    const { url } = await authorizationRequest(configB, { redirectUri: CB, scope: 'openid' });
    const res = await authorize(url);
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toContain('invalid_client');
    await expect(client.clientCredentialsGrant(configB, {})).rejects.toMatchObject({ status: 401 });
    // RLS: the tenant's rows are invisible from another tenant's scope, and cannot be written into it.
    const seen = await t.stores.sql.tx(other!.id, (tx) => tx.query('SELECT client_id FROM oidc_clients WHERE client_id = $1', [a.clientId]));
    expect(seen.rows.length).toBe(0);
    const artifacts = await t.stores.sql.tx(other!.id, (tx) => tx.query('SELECT id FROM oidc_artifacts'));
    expect(artifacts.rows.length).toBe(0);
    const mine = await t.stores.sql.tx(a.tenantId, (tx) => tx.query('SELECT client_id FROM oidc_clients WHERE client_id = $1', [a.clientId]));
    expect(mine.rows.length).toBe(1);
    await expect(t.stores.sql.tx(other!.id, (tx) => tx.query(
      `INSERT INTO oidc_artifacts (tenant_id, model, id, payload) VALUES ($1, 'Grant', 'x', '{}')`, [a.tenantId]))).rejects.toThrow();
  });
});

describe('OpenID Provider: dynamic client registration (RFC 7591)', () => {
  const reg = (slug: string, body: unknown) => call(t.app, { method: 'POST', url: `/oidc/${slug}/reg`, json: body });

  it('is off unless the tenant enables it; then a public MCP-style client registers and signs in with code + PKCE', async () => {
    const meta = { client_name: 'Agent', redirect_uris: ['http://127.0.0.1:33418/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
    expect((await reg('default', meta)).statusCode).toBe(404);
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { oidcDynamicRegistration: true } });
    const disc = await call(t.app, { method: 'GET', url: '/oidc/default/.well-known/openid-configuration' });
    expect(disc.data.registration_endpoint).toBe(`${ISSUER}/reg`);
    const res = await reg('default', meta);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.data.client_id).toMatch(/^oc_/);
    expect(res.data.client_secret).toBeUndefined();
    const row = await t.stores.sql.ownerQuery<{ source: string }>('SELECT source FROM oidc_clients WHERE client_id = $1', [res.data.client_id]);
    expect(row.rows[0]!.source).toBe('dynamic');
    const config = await rpConfig(t.app, ISSUER, res.data.client_id);
    const MCP = `${TEST_PUBLIC_URL}/mcp`;
    const req = await authorizationRequest(config, { redirectUri: meta.redirect_uris[0]!, scope: 'mcp:read mcp:write', resource: MCP });
    const done = await browserAuthorize(new TestBrowser(t.app), req.url, { redirectUri: meta.redirect_uris[0]!, email });
    const tokens = await client.authorizationCodeGrant(config, done.callback, { pkceCodeVerifier: req.verifier, expectedState: req.state }, { resource: MCP });
    expect(tokens.access_token.split('.')).toHaveLength(3);
    expect(tokens.refresh_token).toBeTruthy();
    const audit = await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'oidc.client_register' AND target = $1`, [res.data.client_id]);
    expect(audit.rows[0]!.n).toBe(1);
  });

  it('a confidential registration gets a secret once (stored as SHA-256); redirect URIs outside the allow-list and other grant types are refused', async () => {
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { oidcDynamicRegistration: true, oidcRegistrationRedirects: ['loopback', 'https://rp.example', 'cursor:'] } });
    const ok = await reg('default', { application_type: 'native', redirect_uris: ['https://rp.example/cb', 'cursor://callback'], grant_types: ['authorization_code'] });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.data.client_secret).toBeTruthy();
    const stored = await t.stores.sql.ownerQuery('SELECT * FROM oidc_clients WHERE client_id = $1', [ok.data.client_id]);
    expect(JSON.stringify(stored.rows)).not.toContain(ok.data.client_secret);
    const config = await rpConfig(t.app, ISSUER, ok.data.client_id, ok.data.client_secret);
    expect(config.serverMetadata().issuer).toBe(ISSUER);
    for (const uris of [['https://evil.example/cb'], ['http://rp.example/cb'], ['https://rp.example/cb#x'], ['javascript:alert(1)'], []]) {
      const res = await reg('default', { redirect_uris: uris });
      expect(res.statusCode, JSON.stringify(uris)).toBe(400);
      expect(res.data.error).toMatch(/invalid_redirect_uri|invalid_client_metadata/);
    }
    const cc = await reg('default', { redirect_uris: ['https://rp.example/cb'], grant_types: ['client_credentials'] });
    expect(cc.statusCode).toBe(400);
    expect((await reg('op-other', { redirect_uris: ['https://rp.example/cb'] })).statusCode).toBe(404);
  });
});

export { appFetch };
