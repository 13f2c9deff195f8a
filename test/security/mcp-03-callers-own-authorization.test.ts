import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import type { SignedIn } from '../helpers/identity.js';
import { apiKey, createOrg, join, user } from '../integration/orgs/org-helpers.js';
import { connect, listen, MCP_TOKEN, structured, toolError } from '../integration/mcp/mcp-helpers.js';

/**
 * MCP-03: every tool decides on the calling user's own permissions, exactly as the matching REST route:
 * a member cannot see or end another user's sessions or keys, cannot ask about other subjects or supply
 * resource attributes, learns nothing about orgs they are not in, and sees nothing of another tenant.
 */
let t: TestApp;
let base: string;
let owner: SignedIn;
let member: SignedIn;
let outsider: SignedIn;
let t2user: SignedIn;
let orgId: string;
let t2OrgId: string;
let ownerKeyId: string;
let ownerSessionId: string;
let asMember: Client;
const clients: Client[] = [];

const sidOf = (at: string) => JSON.parse(Buffer.from(at.split('.')[1]!, 'base64url').toString()).sid as string;

beforeAll(async () => {
  t = await createTestApp({ env: { MCP_TOKEN } });
  base = await listen(t.app);
  owner = await user(t, { prefix: 'owner' });
  member = await user(t, { prefix: 'member' });
  outsider = await user(t, { prefix: 'outsider' });
  orgId = (await createOrg(t.app, owner.accessToken, 'Acme')).id;
  await join(t.app, owner.accessToken, orgId, member, ['member']);
  await t.deps.tenants.create({ slug: 'mcp03-t2', name: 'T2' });
  t2user = await user(t, { prefix: 't2', tenant: 'mcp03-t2' });
  t2OrgId = (await createOrg(t.app, t2user.accessToken, 'T2 Org')).id;
  const key = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: owner.accessToken, json: { name: 'owner key', scopes: ['*'] } });
  ownerKeyId = key.data.id;
  ownerSessionId = sidOf(owner.accessToken);
  asMember = await connect(base, member.accessToken);
  clients.push(asMember);
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.close();
});

describe(`MCP-03: tools apply the caller's own authorization (${BACKEND})`, () => {
  it('list_sessions and list_api_keys show the member\'s own only', async () => {
    const sessions = structured(await asMember.callTool({ name: 'list_sessions', arguments: {} }));
    expect(sessions.items.map((s: { id: string }) => s.id)).toEqual([sidOf(member.accessToken)]);
    const keys = structured(await asMember.callTool({ name: 'list_api_keys', arguments: {} }));
    expect(keys.items.map((k: { id: string }) => k.id)).not.toContain(ownerKeyId);
    expect(JSON.stringify(keys)).not.toContain(owner.userId);
  });

  it('revoke_session and revoke_api_key on another user\'s ids → not_found (as over REST), and nothing changes', async () => {
    expect(toolError(await asMember.callTool({ name: 'revoke_session', arguments: { id: ownerSessionId } })).error).toBe('not_found');
    expect((await call(t.app, { method: 'DELETE', url: `/auth/sessions/${ownerSessionId}`, token: member.accessToken })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: owner.accessToken })).statusCode).toBe(200);

    expect(toolError(await asMember.callTool({ name: 'revoke_api_key', arguments: { id: ownerKeyId } })).error).toBe('not_found');
    expect((await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${ownerKeyId}`, token: member.accessToken })).statusCode).toBe(404);
    const ownerKeys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: owner.accessToken });
    expect(ownerKeys.data.items.map((k: { id: string }) => k.id)).toContain(ownerKeyId);
  });

  it('check_permission decides on the member\'s roles: a member may read the org, not delete it — as /authorize says', async () => {
    for (const [action, allowed] of [['org:read', true], ['org:delete', false], ['members:write', false], ['assets:read', false]] as const) {
      const viaMcp = structured(await asMember.callTool({ name: 'check_permission', arguments: { action, orgId } }));
      const viaRest = await call(t.app, { method: 'POST', url: '/auth/authorize', token: member.accessToken, json: { action, orgId } });
      expect(viaMcp, action).toEqual(viaRest.data);
      expect(viaMcp.allowed, action).toBe(allowed);
    }
  });

  it('check_permission refuses subjectId (another user) and resource.attributes from a user token, as /authorize does', async () => {
    const other = toolError(await asMember.callTool({ name: 'check_permission', arguments: { action: 'org:delete', orgId, subjectId: owner.userId } }));
    expect(other.error).toBe('forbidden');
    expect((await call(t.app, { method: 'POST', url: '/auth/authorize', token: member.accessToken, json: { action: 'org:delete', orgId, subjectId: owner.userId } })).statusCode).toBe(403);
    const attrs = toolError(await asMember.callTool({ name: 'check_permission', arguments: { action: 'assets:read', orgId, resource: { type: 'asset', attributes: { owner: member.userId } } } }));
    expect(attrs.error).toBe('validation_failed');
  });

  it('list_permissions for an org the user is not in, or of another tenant → not_found; check_permission there → not allowed', async () => {
    const outsiderClient = await connect(base, outsider.accessToken);
    clients.push(outsiderClient);
    expect(toolError(await outsiderClient.callTool({ name: 'list_permissions', arguments: { orgId } })).error).toBe('not_found');
    expect(structured(await outsiderClient.callTool({ name: 'check_permission', arguments: { action: 'org:read', orgId } })).allowed).toBe(false);
    expect(structured(await outsiderClient.callTool({ name: 'list_organizations', arguments: {} })).items).toEqual([]);

    expect(toolError(await asMember.callTool({ name: 'list_permissions', arguments: { orgId: t2OrgId } })).error).toBe('not_found');
    const cross = structured(await asMember.callTool({ name: 'check_permission', arguments: { action: 'org:read', orgId: t2OrgId } }));
    expect(cross.allowed).toBe(false);
    const orgs = structured(await asMember.callTool({ name: 'list_organizations', arguments: {} }));
    expect(orgs.items.map((o: { id: string }) => o.id)).toEqual([orgId]);
  });

  it('create_api_key cannot bind a key to an org the session is not switched to, nor take admin scopes (as POST /api-keys)', async () => {
    expect(toolError(await asMember.callTool({ name: 'create_api_key', arguments: { name: 'k', scopes: ['*'], orgId: t2OrgId } })).error).toBe('forbidden');
    expect(toolError(await asMember.callTool({ name: 'create_api_key', arguments: { name: 'k', scopes: ['*'], orgId } })).error).toBe('forbidden');
    const adminScope = await asMember.callTool({ name: 'create_api_key', arguments: { name: 'k', scopes: ['admin:*'] } });
    const restAdminScope = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: member.accessToken, json: { name: 'k', scopes: ['admin:*'] } });
    expect(toolError(adminScope).error).toBe(restAdminScope.data.error);
  });

  it('a token of another tenant acts only in its own tenant: its tools never show tenant A\'s objects', async () => {
    const c = await connect(base, t2user.accessToken);
    clients.push(c);
    const me = structured(await c.callTool({ name: 'whoami', arguments: {} }));
    expect(me.tenant.slug).toBe('mcp03-t2');
    expect(structured(await c.callTool({ name: 'list_organizations', arguments: {} })).items.map((o: { id: string }) => o.id)).toEqual([t2OrgId]);
    expect(toolError(await c.callTool({ name: 'list_permissions', arguments: { orgId } })).error).toBe('not_found');
    expect(toolError(await c.callTool({ name: 'revoke_session', arguments: { id: ownerSessionId } })).error).toBe('not_found');
    expect(toolError(await c.callTool({ name: 'revoke_api_key', arguments: { id: ownerKeyId } })).error).toBe('not_found');
    // Pointing the request at tenant A is refused outright.
    const mismatch = await fetch(`${base}/mcp`, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      headers: { authorization: `Bearer ${t2user.accessToken}`, 'x-tenant-id': 'default', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    });
    expect(mismatch.status).toBe(403);
  });

  it('the static MCP_TOKEN acts for no user: user tools are refused to it, and its audit reading is per tenant', async () => {
    const svc = await connect(base, MCP_TOKEN);
    clients.push(svc);
    for (const name of ['list_sessions', 'revoke_session', 'create_api_key', 'check_permission', 'list_permissions']) {
      expect(toolError(await svc.callTool({ name, arguments: {} })).error, name).toBe('forbidden');
    }
    const events = structured(await svc.callTool({ name: 'get_audit_events', arguments: { limit: 200 } }));
    expect(JSON.stringify(events)).not.toContain(t2user.userId);
  });

  it('a member\'s own API key still works after all of the above (no collateral revocation)', async () => {
    const k = await apiKey(t.app, member.accessToken, ['sessions:read']);
    expect((await call(t.app, { method: 'GET', url: '/auth/sessions', token: k })).statusCode).toBe(200);
  });
});
