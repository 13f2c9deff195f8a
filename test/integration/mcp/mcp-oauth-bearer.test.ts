import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import type { SignedIn } from '../../helpers/identity.js';
import { createOrg, user } from '../orgs/org-helpers.js';
import { connect, listen, rawPost, rpc, structured, toolCalls, toolError } from './mcp-helpers.js';
import type { Tenant } from '../../../src/modules/tenants/schemas.js';
import { enableMfa } from '../mfa/mfa-helpers.js';
import { GRANT_CHECK_TTL_MS } from '../../../src/modules/mcp/oauth-grants.js';

/**
 * /mcp as an OAuth resource server (issue 23): access tokens of the tenant's OpenID Provider, minted here
 * with the deployment's real signing key exactly as the provider signs them (RFC 9068, the OIDC/MCP
 * contract), are accepted only with the right type, issuer, audience, lifetime and key, act as their user
 * in the issuer's tenant, and reach only the tools their scopes cover.
 */
const MCP = `${TEST_PUBLIC_URL}/mcp`;
const issuerOf = (slug: string) => `${TEST_PUBLIC_URL}/oidc/${slug}`;

let t: TestApp;
let base: string;
let tenant: Tenant;
let other: Tenant;
let alice: SignedIn;
let bob: SignedIn;
let carol: SignedIn;
let otherUser: SignedIn;

interface Mint {
  sub?: string; iss?: string; aud?: string | string[]; scope?: string; typ?: string; exp?: number; iat?: number; nbf?: number;
  clientId?: string; extra?: Record<string, unknown>; key?: { kid: string; key: jose.CryptoKey | Uint8Array }; alg?: string;
  /** store the provider's grant of the user to the client (default true), as a consent does */
  grant?: boolean;
}

/** The provider's Grant row of a consent (what src/modules/oidc-provider's adapter stores), `iat` seconds. */
async function storeGrant(tenantId: string, userId: string, clientId: string, iat: number, id = `g-${randomUUID()}`): Promise<string> {
  await t.deps.sql.tx(tenantId, (tx) => tx.query(
    `INSERT INTO oidc_artifacts (tenant_id, model, id, payload, grant_id, account_id, client_id, expires_at)
     VALUES ($1, 'Grant', $2, $3, NULL, $4, $5, NULL)`,
    [tenantId, id, JSON.stringify({ iat, jti: id, kind: 'Grant', accountId: userId, clientId, resources: { [MCP]: 'mcp:read mcp:write' } }), userId, clientId]));
  return id;
}
const granted = new Set<string>();

/** An access token as the provider mints it: signed with the deployment's active key unless told otherwise. */
async function mint(o: Mint = {}): Promise<string> {
  const now = Math.floor(t.clock.nowMs() / 1000);
  const iss = o.iss ?? issuerOf('default');
  const tenantOfIss = iss === issuerOf('default') ? tenant : iss === issuerOf('oauth-other') ? other : null;
  const sub = o.sub ?? alice.userId;
  const clientId = o.clientId ?? 'mcp-client-1';
  if (o.grant !== false && tenantOfIss && !granted.has(`${tenantOfIss.id}|${sub}|${clientId}`)) {
    granted.add(`${tenantOfIss.id}|${sub}|${clientId}`);
    await storeGrant(tenantOfIss.id, sub, clientId, now - 3600);
  }
  const k = o.key ?? t.deps.services.signingKeys.signer();
  return new jose.SignJWT({
    client_id: o.clientId ?? 'mcp-client-1', scope: o.scope ?? 'mcp:read', jti: randomUUID(), ...o.extra,
  })
    .setProtectedHeader({ alg: o.alg ?? t.deps.services.signingKeys.alg, kid: k.kid, typ: o.typ ?? 'at+jwt' })
    .setIssuer(o.iss ?? issuerOf('default'))
    .setSubject(o.sub ?? alice.userId)
    .setAudience(o.aud ?? MCP)
    .setIssuedAt(o.iat ?? now)
    .setExpirationTime(o.exp ?? now + 600)
    .sign(k.key);
}

const asBearer = (token: string, headers: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...headers });
const list = (token: string, headers: Record<string, string> = {}) => rawPost(base, rpc('tools/list'), asBearer(token, headers));
const callTool = (token: string, name: string, args: Record<string, unknown> = {}) =>
  rawPost(base, rpc('tools/call', { name, arguments: args }), asBearer(token));

beforeAll(async () => {
  t = await createTestApp();
  base = await listen(t.app);
  tenant = await t.deps.tenants.defaultTenant();
  other = await t.deps.tenants.create({ slug: 'oauth-other', name: 'Other' });
  alice = await user(t, { prefix: 'alice' });
  bob = await user(t, { prefix: 'bob' });
  carol = await user(t, { prefix: 'carol' });
  otherUser = await user(t, { prefix: 'other', tenant: 'oauth-other' });
});
afterAll(async () => {
  await t?.close();
});

describe(`MCP OAuth resource server (${BACKEND})`, () => {
  it('a good mcp:read token: the SDK client connects, whoami names the user and the client, tools/list shows read tools only', async () => {
    const token = await mint({ scope: 'mcp:read' });
    const client = await connect(base, token);
    try {
      const who = structured(await client.callTool({ name: 'whoami', arguments: {} }));
      expect(who.principal).toBe('user');
      expect(who.user.id).toBe(alice.userId);
      expect(who.tenant.slug).toBe('default');
      expect(who.sessionId).toBeUndefined();
      expect(who.oauth).toMatchObject({ clientId: 'mcp-client-1', scopes: ['mcp:read'] });
      const names = (await client.listTools()).tools.map((x) => x.name).sort();
      expect(names).toEqual(['check_permission', 'export_my_data', 'list_api_keys', 'list_organizations', 'list_permissions', 'list_sessions', 'whoami']);
      expect(who.tools.sort()).toEqual(names);
    } finally {
      await client.close();
    }
    const rows = await toolCalls(t);
    const row = rows.find((r) => r.target === 'whoami' && r.actor.id === alice.userId);
    expect(row?.metadata).toMatchObject({ via: 'oauth', clientId: 'mcp-client-1', scope: 'mcp:read' });
  });

  it('a tool outside the scopes → HTTP 403 insufficient_scope naming the scope to ask for, audited as denied; nothing changes', async () => {
    const sessions = await call(t.app, { method: 'GET', url: '/auth/sessions', token: bob.accessToken });
    const sid = sessions.data.items[0].id as string;
    const token = await mint({ sub: bob.userId, scope: 'mcp:read' });
    const res = await callTool(token, 'revoke_session', { id: sid });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource"`);
    expect(res.json).toMatchObject({ error: 'forbidden', requiredScope: 'mcp:write' });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: bob.accessToken })).statusCode).toBe(200);
    const row = (await toolCalls(t)).find((r) => r.target === 'revoke_session' && r.actor.id === bob.userId);
    expect(row).toMatchObject({ outcome: 'denied' });
    expect(row?.metadata).toMatchObject({ error: 'insufficient_scope', via: 'oauth' });
  });

  it('an mcp:write token (without mcp:read) reaches the write tools only; with both, revoke_session works', async () => {
    const writeOnly = await mint({ sub: bob.userId, scope: 'mcp:write' });
    const names = (await list(writeOnly)).json.result.tools.map((x: { name: string }) => x.name).sort();
    expect(names).toEqual(['revoke_api_key', 'revoke_session']);
    expect((await callTool(writeOnly, 'whoami')).status).toBe(403);

    const sessions = await call(t.app, { method: 'GET', url: '/auth/sessions', token: bob.accessToken });
    const sid = sessions.data.items[0].id as string;
    const both = await mint({ sub: bob.userId, scope: 'mcp:read mcp:write' });
    const res = await callTool(both, 'revoke_session', { id: sid });
    expect(res.status).toBe(200);
    expect(res.json.result.structuredContent).toEqual({ revoked: true, id: sid });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: bob.accessToken })).statusCode).toBe(401);
  });

  it('create_api_key and get_audit_events are never available over OAuth, whatever the scopes', async () => {
    const token = await mint({ scope: 'mcp:read mcp:write' });
    const names = (await list(token)).json.result.tools.map((x: { name: string }) => x.name);
    expect(names).not.toContain('create_api_key');
    expect(names).not.toContain('get_audit_events');
    for (const [name, args] of [['create_api_key', { name: 'k', scopes: ['*'] }], ['get_audit_events', {}]] as const) {
      const res = await callTool(token, name, args);
      expect(res.status, name).toBe(200);
      const err = JSON.parse(res.json.result.content[0].text);
      expect(err.error, name).toBe('forbidden');
    }
    expect((await call(t.app, { method: 'GET', url: '/auth/api-keys', token: alice.accessToken })).data.items.filter((k: { name: string }) => k.name === 'k')).toEqual([]);
  });

  it('a token without any scope reaches no tool (tools/list is empty)', async () => {
    const token = await mint({ scope: '' });
    expect((await list(token)).json.result.tools).toEqual([]);
    expect((await callTool(token, 'whoami')).status).toBe(403);
  });

  async function refused(token: string, why: string, status = 401) {
    const res = await list(token);
    expect(res.status, `${why}: ${res.text}`).toBe(status);
    if (status === 401) expect(res.headers.get('www-authenticate'), why).toMatch(/^Bearer error="invalid_token", resource_metadata="[^"]+", scope="mcp:read mcp:write"$/);
    return res;
  }

  it('wrong audience: our own access tokens\' audience, another resource, none of ours in a list → 401 invalid_token', async () => {
    await refused(await mint({ aud: tenant.settings.audience ?? tenant.id }), 'tenant audience');
    await refused(await mint({ aud: `${TEST_PUBLIC_URL}/other-api` }), 'other resource');
    await refused(await mint({ aud: ['https://api.example.com', `${TEST_PUBLIC_URL}/mcp/`] }), 'list without /mcp');
    // a list that contains the resource is fine (RFC 9068 allows several audiences)
    expect((await list(await mint({ aud: ['https://api.example.com', MCP] }))).status).toBe(200);
  });

  it('wrong issuer: unknown tenant, no tenant, our own token issuer, another host → 401; another tenant\'s issuer acts in that tenant only', async () => {
    await refused(await mint({ iss: issuerOf('no-such-tenant') }), 'unknown tenant');
    await refused(await mint({ iss: `${TEST_PUBLIC_URL}/oidc/` }), 'empty slug');
    await refused(await mint({ iss: `${TEST_PUBLIC_URL}/oidc/default/x` }), 'slug with a path');
    await refused(await mint({ iss: TEST_PUBLIC_URL }), 'our own access tokens\' issuer');
    await refused(await mint({ iss: 'https://evil.example/oidc/default' }), 'another host');
    // alice is a user of "default": a token naming the other tenant's issuer finds no such user there
    await refused(await mint({ iss: issuerOf('oauth-other') }), 'user of another tenant');
    // the other tenant's own user, with its issuer: acts in that tenant
    const theirs = await mint({ iss: issuerOf('oauth-other'), sub: otherUser.userId });
    const who = await callTool(theirs, 'whoami');
    expect(who.status).toBe(200);
    expect(who.json.result.structuredContent.tenant).toEqual({ id: other.id, slug: 'oauth-other' });
    // ... and an X-Tenant-ID naming another tenant is a mismatch, as for every credential
    expect((await list(theirs, { 'x-tenant-id': 'default' })).status).toBe(403);
  });

  it('wrong typ, expired, not yet valid, issued in the future, missing claims → 401', async () => {
    const now = Math.floor(t.clock.nowMs() / 1000);
    await refused(await mint({ typ: 'JWT' }), 'typ JWT');
    await refused(await mint({ typ: 'id_token+jwt' }), 'typ other');
    const expired = await refused(await mint({ iat: now - 1000, exp: now - 60 }), 'expired');
    expect(expired.json.error).toBe('token_expired');
    // within the 30 s leeway it is still good
    expect((await list(await mint({ iat: now - 1000, exp: now - 10 }))).status).toBe(200);
    await refused(await mint({ extra: { nbf: now + 300 } }), 'nbf in the future');
    await refused(await mint({ iat: now + 300 }), 'iat in the future');
    await refused(await mint({ extra: { client_id: undefined } }), 'no client_id');
    await refused(await mint({ extra: { scope: ['mcp:read'] } }), 'scope not a string');
    await refused(await mint({ extra: { org: 42 } }), 'org not a string');
    await refused(await mint({ extra: { org: 'not-an-org-id' } }), 'org not a uuid');
  });

  it('keys: a key not in our set (even under one of our kids), alg none, HS256 keyed with our public key → 401', async () => {
    const ours = t.deps.services.signingKeys.signer();
    const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await refused(await mint({ key: { kid: ours.kid, key: privateKey } }), 'foreign key under our kid');
    await refused(await mint({ key: { kid: 'AAAAAAAAAAAAAAAA', key: privateKey } }), 'foreign key, foreign kid');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: ours.kid })).toString('base64url');
    const good = await mint();
    const payload = good.split('.')[1];
    await refused(`${header}.${payload}.`, 'alg none');
    const jwk = t.deps.services.signingKeys.jwks().keys.find((k) => k.kid === ours.kid);
    if (jwk) {
      const hs = await mint({ alg: 'HS256', key: { kid: ours.kid, key: new TextEncoder().encode(JSON.stringify(jwk)) } });
      await refused(hs, 'HS256 with the public key');
      const hsX = await mint({ alg: 'HS256', key: { kid: ours.kid, key: Buffer.from(jwk.x!, 'base64url') } });
      await refused(hsX, 'HS256 with the raw public key');
    }
    // a tampered payload under a good signature
    const tampered = `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ ...jose.decodeJwt(good), scope: 'mcp:read mcp:write' })).toString('base64url')}.${good.split('.')[2]}`;
    await refused(tampered, 'tampered payload');
  });

  it('after a rotation the superseded key still verifies (rotation logs nobody out) and the new key verifies', async () => {
    const before = await mint();
    expect((await list(before)).status).toBe(200);
    await t.deps.services.signingKeys.rotate();
    // superseded keys still verify until they retire (rotation logs nobody out)
    expect((await list(before)).status).toBe(200);
    expect((await list(await mint())).status).toBe(200);
  });

  it('the user: disabled → 401 at once; unknown → 401; client credentials (sub = client_id) → 403', async () => {
    const token = await mint({ sub: carol.userId });
    expect((await list(token)).status).toBe(200);
    const admin = await t.deps.services.users.setDisabled(tenant.id, carol.userId, true);
    expect(admin?.disabled).toBe(true);
    await refused(token, 'disabled user');
    await refused(await mint({ sub: randomUUID() }), 'unknown user');
    await refused(await mint({ sub: 'not-a-uuid' }), 'sub not a uuid');
    const cc = await list(await mint({ sub: 'svc-client', clientId: 'svc-client' }));
    expect(cc.status).toBe(403);
    expect(cc.json.error).toBe('forbidden');
    expect(cc.json.message).toMatch(/client credentials/);
  });

  it('a provider token is not accepted by the REST API (its issuer and audience are not ours)', async () => {
    const token = await mint({ scope: 'mcp:read mcp:write' });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token })).statusCode).toBe(401);
  });

  it('401 without a bearer: resource_metadata and scope; with X-Tenant-ID the metadata URL names the tenant', async () => {
    const res = await rawPost(base, rpc('tools/list'));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource", scope="mcp:read mcp:write"`);
    const named = await rawPost(base, rpc('tools/list'), { 'x-tenant-id': 'oauth-other' });
    expect(named.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource?tenant=oauth-other", scope="mcp:read mcp:write"`);
  });

  it('protected-resource metadata names the tenant\'s issuer: default, X-Tenant-ID, ?tenant=, unknown → 404, disagreeing → 400', async () => {
    for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await call(t.app, { method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.data).toEqual({
        resource: MCP, authorization_servers: [issuerOf('default')], scopes_supported: ['mcp:read', 'mcp:write'],
        bearer_methods_supported: ['header'], resource_name: 'Authplane MCP', resource_documentation: `${TEST_PUBLIC_URL}/auth/discovery`,
      });
      expect(res.headers.vary).toMatch(/X-Tenant-ID/i);
    }
    const byHeader = await call(t.app, { method: 'GET', url: '/.well-known/oauth-protected-resource', headers: { 'x-tenant-id': 'oauth-other' } });
    expect(byHeader.data.authorization_servers).toEqual([issuerOf('oauth-other')]);
    const byQuery = await call(t.app, { method: 'GET', url: '/.well-known/oauth-protected-resource?tenant=oauth-other' });
    expect(byQuery.data.authorization_servers).toEqual([issuerOf('oauth-other')]);
    const byId = await call(t.app, { method: 'GET', url: `/.well-known/oauth-protected-resource?tenant=${other.id}` });
    expect(byId.data.authorization_servers).toEqual([issuerOf('oauth-other')]);
    expect((await call(t.app, { method: 'GET', url: '/.well-known/oauth-protected-resource?tenant=nope-nope' })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: '/.well-known/oauth-protected-resource?tenant=oauth-other', headers: { 'x-tenant-id': 'default' } })).statusCode).toBe(400);
  });

  it('revoke_api_key over OAuth: allowed for a user without MFA; a tool error (not a 500) for another user\'s key', async () => {
    const key = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: alice.accessToken, json: { name: 'to revoke', scopes: ['*'] } });
    expect(key.statusCode, key.body).toBe(201);
    const token = await mint({ scope: 'mcp:read mcp:write' });
    const res = await callTool(token, 'revoke_api_key', { id: key.data.id });
    expect(res.json.result.structuredContent).toEqual({ revoked: true, id: key.data.id });
    const theirs = await mint({ sub: otherUser.userId, iss: issuerOf('oauth-other'), scope: 'mcp:write' });
    const err = await rawPost(base, rpc('tools/call', { name: 'revoke_api_key', arguments: { id: key.data.id } }), asBearer(theirs));
    expect(toolError(err.json.result).error).toBe('not_found');
  });

  it('revoke_api_key over OAuth for a user with MFA: a forbidden tool error (a TOTP step-up cannot be completed with an OAuth token), no challenge, the key stays', async () => {
    const dave = await user(t, { prefix: 'dave' });
    // the key exists before MFA is on (then REST asks no step-up to create it)
    const key = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: dave.accessToken, json: { name: 'kept', scopes: ['*'] } });
    expect(key.statusCode, key.body).toBe(201);
    await enableMfa(t, dave.accessToken);
    const token = await mint({ sub: dave.userId, scope: 'mcp:read mcp:write' });
    const res = await callTool(token, 'revoke_api_key', { id: key.data.id });
    const err = toolError(res.json.result);
    expect(err.error).toBe('forbidden');
    expect(err.challenge).toBeUndefined();
    expect(err.message).toMatch(/OAuth/);
    const keys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: dave.accessToken });
    expect(keys.data.items.map((k: { id: string }) => k.id)).toContain(key.data.id);
  });

  it('the grant: none → 401; revoked (rows deleted) → 401 within the check\'s 5 s; a token older than a fresh consent stays dead', async () => {
    const erin = await user(t, { prefix: 'erin' });
    await refused(await mint({ sub: erin.userId, clientId: 'never-consented', grant: false }), 'no grant');

    const now = Math.floor(t.clock.nowMs() / 1000);
    const gid = await storeGrant(tenant.id, erin.userId, 'erins-client', now - 60);
    const token = await mint({ sub: erin.userId, clientId: 'erins-client', grant: false });
    expect((await list(token)).status).toBe(200);
    // the user revokes the consent on the account page: the grant's rows go
    await t.deps.sql.tx(tenant.id, (tx) => tx.query('DELETE FROM oidc_artifacts WHERE tenant_id = $1 AND id = $2', [tenant.id, gid]));
    t.clock.advance(GRANT_CHECK_TTL_MS + 1);
    await refused(token, 'grant revoked');
    // consenting again makes a new grant: tokens issued under it work, the old one does not come back
    t.clock.advance(2_000);
    await storeGrant(tenant.id, erin.userId, 'erins-client', Math.floor(t.clock.nowMs() / 1000));
    await refused(token, 'token older than the new grant');
    expect((await list(await mint({ sub: erin.userId, clientId: 'erins-client', grant: false }))).status).toBe(200);
  });

  it('a token bound to an organization (org + roles claims) acts in it: whoami and check_permission use the org', async () => {
    const org = await createOrg(t.app, alice.accessToken, 'OAuth Org');
    const token = await mint({ scope: 'mcp:read', extra: { org: org.id, roles: ['owner'] } });
    const who = await callTool(token, 'whoami');
    expect(who.json.result.structuredContent).toMatchObject({ orgId: org.id, roles: ['owner'] });
    const decision = await callTool(token, 'check_permission', { action: 'org:read' });
    expect(decision.json.result.structuredContent.allowed).toBe(true);
  });
});
