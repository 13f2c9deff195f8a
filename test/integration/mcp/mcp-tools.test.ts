import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { register } from '../../helpers/identity.js';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { enableMfa, nextCode } from '../mfa/mfa-helpers.js';
import { connect, listen, MCP_TOKEN, structured, toolCalls, toolError } from './mcp-helpers.js';

/**
 * The MCP endpoint driven by the SDK's own client over real HTTP: tools/list, every tool with a user's
 * access token (answers equal to the matching REST route), the static-token service principal, the TOTP
 * gate round trip of the mutating tools, the RFC 9728 metadata and the discovery fragment.
 */
let t: TestApp;
let base: string;
const clients: Client[] = [];
const open = async (bearer: string, headers: Record<string, string> = {}) => {
  const c = await connect(base, bearer, headers);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  t = await createTestApp({ env: { MCP_TOKEN } });
  base = await listen(t.app);
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.close();
});

const USER_TOOLS = ['whoami', 'list_organizations', 'check_permission', 'list_permissions', 'list_sessions', 'revoke_session', 'list_api_keys', 'create_api_key', 'revoke_api_key', 'export_my_data'];

describe(`MCP tools over real HTTP with the SDK client (${BACKEND})`, () => {
  it('tools/list gives a user the user tools, each with an object JSON Schema for its arguments and its result', async () => {
    const u = await register(t.app);
    const { tools } = await (await open(u.accessToken)).listTools();
    expect(tools.map((x) => x.name).sort()).toEqual([...USER_TOOLS].sort());
    for (const tool of tools) {
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
      expect(tool.description, tool.name).toBeTruthy();
    }
    const create = tools.find((x) => x.name === 'create_api_key')!;
    expect(create.inputSchema.required).toEqual(expect.arrayContaining(['name', 'scopes']));
    expect(Object.keys(create.inputSchema.properties ?? {})).toContain('totpChallenge');
    expect(tools.find((x) => x.name === 'list_sessions')!.annotations?.readOnlyHint).toBe(true);
  });

  it('whoami, list_sessions and list_api_keys answer what the REST routes answer for the same user', async () => {
    const u = await register(t.app);
    const c = await open(u.accessToken);
    const me = structured(await c.callTool({ name: 'whoami', arguments: {} }));
    const rest = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(me).toMatchObject({ principal: 'user', user: rest.data, mfaEnabled: false, amr: ['pwd'], tenant: { slug: 'default' } });
    expect(me.tools.sort()).toEqual([...USER_TOOLS].sort());

    const sessions = structured(await c.callTool({ name: 'list_sessions', arguments: {} }));
    const restSessions = await call(t.app, { method: 'GET', url: '/auth/sessions', token: u.accessToken });
    expect(sessions).toEqual(restSessions.data);
    expect(sessions.items[0].current).toBe(true);

    const keys = structured(await c.callTool({ name: 'list_api_keys', arguments: {} }));
    const restKeys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    expect(keys).toEqual(restKeys.data);
    expect(JSON.stringify(keys)).not.toContain(u.body.apiKey);

    const exported = structured(await c.callTool({ name: 'export_my_data', arguments: {} }));
    const restExport = await call(t.app, { method: 'GET', url: '/auth/user/export', token: u.accessToken });
    expect({ ...exported, exportedAt: null, auditEvents: null }).toEqual({ ...restExport.data, exportedAt: null, auditEvents: null });
    expect(exported.profile.id).toBe(u.userId);
    expect(JSON.stringify(exported)).not.toContain(u.body.apiKey);
  });

  it('list_organizations, check_permission and list_permissions use the org services and the /authorize engine', async () => {
    const u = await register(t.app);
    const org = await call(t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: 'Acme' } });
    expect(org.statusCode, org.body).toBe(200);
    const c = await open(u.accessToken);
    const orgs = structured(await c.callTool({ name: 'list_organizations', arguments: {} }));
    expect(orgs).toEqual((await call(t.app, { method: 'GET', url: '/auth/orgs', token: u.accessToken })).data);
    expect(orgs.items).toEqual([expect.objectContaining({ id: org.data.id, roles: ['owner'] })]);

    for (const args of [{ action: 'org:delete', orgId: org.data.id }, { action: 'assets:read', orgId: org.data.id }, { action: 'assets:read' }]) {
      const viaMcp = structured(await c.callTool({ name: 'check_permission', arguments: args }));
      const viaRest = await call(t.app, { method: 'POST', url: '/auth/authorize', token: u.accessToken, json: args });
      expect(viaMcp, JSON.stringify(args)).toEqual(viaRest.data);
    }
    expect(structured(await c.callTool({ name: 'check_permission', arguments: { action: 'org:delete', orgId: org.data.id } })).allowed).toBe(true);

    const perms = structured(await c.callTool({ name: 'list_permissions', arguments: { orgId: org.data.id } }));
    expect(perms).toEqual((await call(t.app, { method: 'POST', url: '/auth/permissions', token: u.accessToken, json: { orgId: org.data.id } })).data);
    expect(perms.roles).toEqual(['owner']);
  });

  it('create_api_key issues a working key once; revoke_api_key stops it at once', async () => {
    const u = await register(t.app);
    const c = await open(u.accessToken);
    const created = structured(await c.callTool({ name: 'create_api_key', arguments: { name: 'agent key', scopes: ['sessions:read'] } }));
    expect(created.apiKey).toMatch(/^ck_/);
    expect(created).toMatchObject({ name: 'agent key', scopes: ['sessions:read'], isDefault: false });
    expect((await call(t.app, { method: 'GET', url: '/auth/sessions', token: created.apiKey })).statusCode).toBe(200);
    // Listed afterwards without the secret.
    const listed = structured(await c.callTool({ name: 'list_api_keys', arguments: {} }));
    expect(listed.items.map((k: { id: string }) => k.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.apiKey);

    expect(structured(await c.callTool({ name: 'revoke_api_key', arguments: { id: created.id } }))).toEqual({ revoked: true, id: created.id });
    expect((await call(t.app, { method: 'GET', url: '/auth/sessions', token: created.apiKey })).statusCode).toBe(401);
    expect(toolError(await c.callTool({ name: 'revoke_api_key', arguments: { id: created.id } })).error).toBe('not_found');
  });

  it('revoke_session ends another session of the user; an unknown id is not_found', async () => {
    const u = await register(t.app);
    const other = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: u.password } });
    const otherSid = JSON.parse(Buffer.from(other.data.tokens.accessToken.split('.')[1], 'base64url').toString()).sid;
    const c = await open(u.accessToken);
    expect(structured(await c.callTool({ name: 'revoke_session', arguments: { id: otherSid } }))).toEqual({ revoked: true, id: otherSid });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: other.data.tokens.accessToken })).statusCode).toBe(401);
    expect(toolError(await c.callTool({ name: 'revoke_session', arguments: { id: otherSid } })).error).toBe('not_found');
    const rows = (await t.deps.audit.list({ action: 'session.revoke', actorId: u.userId, limit: 10 })).items;
    expect(rows.map((r) => r.target)).toContain(otherSid);
  });

  it('every tools/call writes one mcp.tool_call audit row: tool, actor, outcome, duration', async () => {
    const u = await register(t.app);
    const c = await open(u.accessToken);
    const before = (await toolCalls(t)).length;
    await c.callTool({ name: 'whoami', arguments: {} });
    await c.callTool({ name: 'revoke_api_key', arguments: { id: '00000000-0000-4000-8000-000000000000' } });
    await expect(c.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/-32602|Unknown tool/);
    const all = await toolCalls(t);
    const rows = all.slice(0, all.length - before);
    expect(rows).toHaveLength(3);
    const [unknown, notFound, ok] = rows;
    expect(ok).toMatchObject({ actor: { type: 'user', id: u.userId }, target: 'whoami', outcome: 'success', metadata: { tool: 'whoami' } });
    expect(notFound).toMatchObject({ target: 'revoke_api_key', outcome: 'failure', metadata: { error: 'not_found' } });
    expect(unknown).toMatchObject({ target: 'no_such_tool', outcome: 'failure', metadata: { error: 'invalid_params' } });
    for (const r of rows) {
      expect(typeof r.metadata.durationMs).toBe('number');
      expect(r.tenantId).toBe(u.body.user.tenantId);
      expect(r.requestId).toBeTruthy();
    }
  });
});

describe('the static MCP_TOKEN: a service principal with the tools the deployment enables', () => {
  it('lists and calls only whoami and get_audit_events (the default MCP_SERVICE_TOOLS)', async () => {
    const c = await open(MCP_TOKEN);
    const { tools } = await c.listTools();
    expect(tools.map((x) => x.name).sort()).toEqual(['get_audit_events', 'whoami']);
    const me = structured(await c.callTool({ name: 'whoami', arguments: {} }));
    expect(me).toEqual({ principal: 'mcp_service', tenant: { id: expect.any(String), slug: 'default' }, tools: ['whoami', 'get_audit_events'] });
    for (const name of ['list_sessions', 'list_api_keys', 'list_organizations']) {
      expect(toolError(await c.callTool({ name, arguments: {} })).error, name).toBe('forbidden');
    }
    const rows = await toolCalls(t);
    expect(rows[0]).toMatchObject({ actor: { type: 'mcp_service', id: null }, outcome: 'denied', target: 'list_organizations' });
  });

  it('get_audit_events reads the tenant the request names, and nothing of another tenant', async () => {
    await t.deps.tenants.create({ slug: 'mcp-t2', name: 'T2' });
    const v = await register(t.app, { tenant: 'mcp-t2' });
    const inDefault = await open(MCP_TOKEN);
    const page = structured(await inDefault.callTool({ name: 'get_audit_events', arguments: { limit: 200 } }));
    expect(page.items.length).toBeGreaterThan(0);
    expect(new Set(page.items.map((e: { tenantId: string }) => e.tenantId)).size).toBe(1);
    expect(JSON.stringify(page)).not.toContain(v.userId);

    const inT2 = await open(MCP_TOKEN, { 'X-Tenant-ID': 'mcp-t2' });
    const t2 = structured(await inT2.callTool({ name: 'get_audit_events', arguments: { action: 'user.signup' } }));
    expect(t2.items.map((e: { actor: { id: string } }) => e.actor.id)).toEqual([v.userId]);
    await expect(inT2.callTool({ name: 'get_audit_events', arguments: { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' } }))
      .rejects.toThrow(/from must not be after to/);
  });

  it('only the exact token is the service principal (compared in constant time; near misses → 401)', async () => {
    const near = [MCP_TOKEN.slice(0, -1), `${MCP_TOKEN}x`, `${MCP_TOKEN.slice(0, -1)}Q`, MCP_TOKEN.toUpperCase(), ''];
    for (const bearer of near) {
      const res = await call(t.app, { method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${bearer}`, accept: 'application/json, text/event-stream' }, json: { jsonrpc: '2.0', id: 1, method: 'tools/list' } });
      expect(res.statusCode, bearer.slice(-4)).toBe(401);
    }
    const ok = await call(t.app, { method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${MCP_TOKEN}`, accept: 'application/json, text/event-stream' }, json: { jsonrpc: '2.0', id: 1, method: 'tools/list' } });
    expect(ok.statusCode).toBe(200);
    // It acts in the tenant the request names.
    const inT2 = await open(MCP_TOKEN, { 'X-Tenant-ID': 'mcp-t2' });
    expect(structured(await inT2.callTool({ name: 'whoami', arguments: {} })).tenant.slug).toBe('mcp-t2');
  });

  it('get_audit_events is refused to a user access token (admin-level), and not listed for it', async () => {
    const u = await register(t.app);
    const c = await open(u.accessToken);
    expect((await c.listTools()).tools.map((x) => x.name)).not.toContain('get_audit_events');
    const refused = toolError(await c.callTool({ name: 'get_audit_events', arguments: {} }));
    expect(refused.error).toBe('forbidden');
  });

  it('MCP_SERVICE_TOOLS narrows the service tools, and a user tool named there stops the start', () => {
    const env = { AUTH_SECRET: 'x'.repeat(40) };
    expect(loadConfig({ ...env }).mcpServiceTools).toEqual(['whoami', 'get_audit_events']);
    expect(loadConfig({ ...env, MCP_SERVICE_TOOLS: 'whoami' }).mcpServiceTools).toEqual(['whoami']);
    expect(() => loadConfig({ ...env, MCP_SERVICE_TOOLS: 'whoami,list_sessions' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, MCP_SERVICE_TOOLS: 'whoami,list_sessions' })).toThrow(/MCP_SERVICE_TOOLS/);
  });
});

describe('the TOTP gate on mutating tools', () => {
  it('create_api_key returns totp_required with a challenge; completing it over REST lets the same call through once', async () => {
    const u = await register(t.app);
    const { secret } = await enableMfa(t, u.accessToken);
    t.clock.advance(5 * 60_000 + 1_000); // the enable's step-up (if any) lapses
    const c = await open(u.accessToken);
    const args = { name: 'gated', scopes: ['*'] };
    const first = toolError(await c.callTool({ name: 'create_api_key', arguments: args }));
    expect(first.error).toBe('totp_required');
    expect(first.challenge).toMatch(/^ch_/);
    const keysBefore = structured(await c.callTool({ name: 'list_api_keys', arguments: {} })).items.length;

    // A completed challenge is not accepted before completion…
    expect(toolError(await c.callTool({ name: 'create_api_key', arguments: { ...args, totpChallenge: first.challenge } })).error).toBe('totp_required');
    const second = toolError(await c.callTool({ name: 'create_api_key', arguments: args }));
    const done = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: u.accessToken, json: { challenge: second.challenge, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.data).toMatchObject({ method: 'MCP', path: 'tool:create_api_key' });

    // …it does not authorize another tool…
    const other = toolError(await c.callTool({ name: 'revoke_api_key', arguments: { id: '00000000-0000-4000-8000-000000000000', totpChallenge: second.challenge } }));
    expect(other.error).toBe('totp_required');
    // …(that attempt spent it, as a wrong use of an HTTP challenge does): complete a fresh one.
    const third = toolError(await c.callTool({ name: 'create_api_key', arguments: args }));
    expect((await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: u.accessToken, json: { challenge: third.challenge, code: nextCode(t, secret) } })).statusCode).toBe(200);
    const created = structured(await c.callTool({ name: 'create_api_key', arguments: { ...args, totpChallenge: third.challenge } }));
    expect(created.apiKey).toMatch(/^ck_/);
    // Single use.
    expect(toolError(await c.callTool({ name: 'create_api_key', arguments: { ...args, totpChallenge: third.challenge } })).error).toBe('totp_required');
    expect(structured(await c.callTool({ name: 'list_api_keys', arguments: {} })).items.length).toBe(keysBefore + 1);
  });

  it('a session stepped up with /mfa/verify passes the gate without a challenge', async () => {
    const u = await register(t.app);
    const { secret } = await enableMfa(t, u.accessToken);
    t.clock.advance(5 * 60_000 + 1_000);
    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: u.accessToken, json: { code: nextCode(t, secret) } });
    expect(v.statusCode, v.body).toBe(200);
    const c = await open(u.accessToken);
    expect(structured(await c.callTool({ name: 'create_api_key', arguments: { name: 'stepped', scopes: ['*'] } })).apiKey).toMatch(/^ck_/);
  });
});

describe('discovery and RFC 9728 metadata', () => {
  it('GET /.well-known/oauth-protected-resource names the resource, the tenant\'s issuer, the scopes and the header bearer method', async () => {
    const res = await fetch(`${base}/.well-known/oauth-protected-resource`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: `${t.config.publicUrl}/mcp`,
      authorization_servers: [`${t.config.publicUrl}/oidc/default`],
      scopes_supported: ['mcp:read', 'mcp:write'],
      bearer_methods_supported: ['header'],
      resource_name: 'Authplane MCP',
      resource_documentation: `${t.config.publicUrl}/auth/discovery`,
    });
  });

  it('/auth/discovery links the endpoint and says how to authenticate and use the gate', async () => {
    const d = (await call(t.app, { method: 'GET', url: '/auth/discovery' })).data.capabilities.mcp;
    expect(d.endpoint).toBe(`${t.config.publicUrl}/mcp`);
    expect(d.protectedResourceMetadata).toBe(`${t.config.publicUrl}/.well-known/oauth-protected-resource`);
    expect(d.authenticate.accessToken).toMatch(/Bearer/);
    expect(d.authenticate.mcpToken).toMatch(/MCP_TOKEN/);
    expect(d.authenticate.oauth.scopes).toEqual({
      'mcp:read': ['whoami', 'list_organizations', 'check_permission', 'list_permissions', 'list_sessions', 'list_api_keys', 'export_my_data'],
      'mcp:write': ['revoke_session', 'revoke_api_key'],
    });
    expect(d.authenticate.oauth.summary).toContain(`${t.config.publicUrl}/oidc/<tenant slug>`);
    expect(d.tools.user.map((x: { name: string }) => x.name)).toEqual(USER_TOOLS);
    expect(d.totpGate.join(' ')).toMatch(/totp\/complete/);
    expect(JSON.stringify(d)).not.toContain(MCP_TOKEN);
  });
});
