import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

/**
 * Issue 24: an attacker must not be able to keep an action out of the audit log.
 * - A lone UTF-16 surrogate (`"\ud800"` is valid JSON) in a body used to make Postgres refuse the audit row
 *   (jsonb rejects it) while the request was answered: the row was silently dropped. Strings are made
 *   well-formed (U+FFFD) before anything is stored: the row is written and the chain still verifies.
 * - An audit write that fails for any other reason fails the request closed: 503 unavailable, never a
 *   success without its row.
 */
const ALLOWED = 'https://allowed.example';
const MCP_TOKEN = 'mcp-test-static-token-0123456789abcdefghijklmnop';
const LONE = '\ud800';
let t: TestApp;
let tenantId: string;

beforeAll(async () => {
  t = await createTestApp({ env: { MCP_TOKEN } });
  tenantId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(tenantId, { settings: { allowedOrigins: [ALLOWED] } });
});
afterAll(async () => { await t?.close(); });

let n = 0;
async function signUp() {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `au${++n}-${process.pid}@example.com`, password: 'correct horse battery staple' } });
  expect(res.statusCode, res.body).toBe(200);
  return { userId: res.data.user.id as string, accessToken: res.data.tokens.accessToken as string };
}
const rows = async (action: string) => (await t.deps.audit.list({ tenantId, action, limit: 200 })).items;
const mcp = (body: unknown) => call(t.app, {
  method: 'POST', url: '/mcp', token: MCP_TOKEN, json: body,
  headers: { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
});

describe('a lone surrogate does not keep an action out of the audit log', () => {
  it('POST /token/verify with a lone surrogate in the audience: answered 401 and audited', async () => {
    const before = (await rows('cross_domain.verify')).length;
    // JSON.stringify writes the lone surrogate as the escape \ud800: valid JSON.
    const res = await call(t.app, { method: 'POST', url: '/auth/token/verify', json: { token: 'x.y.z', audience: `${ALLOWED}${LONE}` } });
    expect(res.statusCode, res.body).toBe(401);
    const after = await rows('cross_domain.verify');
    expect(after.length).toBe(before + 1);
    expect(after[0]!.metadata).toMatchObject({ audience: `${ALLOWED}\ufffd`, reason: 'audience_not_allowed' });
    expect(await t.deps.audit.verify()).toMatchObject({ breaks: [] });
  });

  it('an MCP tool call with a lone surrogate in a string argument (and a key) is audited', async () => {
    const before = (await rows('mcp.tool_call')).length;
    const res = await mcp({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: { note: `a${LONE}b`, [`k${LONE}`]: 1 } } });
    expect(res.statusCode, res.body).toBe(200);
    const after = await rows('mcp.tool_call');
    expect(after.length).toBe(before + 1);
    expect(JSON.stringify(after[0]!.metadata)).toContain('a\ufffdb');
    expect(await t.deps.audit.verify()).toMatchObject({ breaks: [] });
  });

  it('audit.record itself makes every field well-formed (target, actor, user agent, request id, metadata keys and values)', async () => {
    await t.deps.audit.record({
      tenantId, actor: { type: 'user', id: `u${LONE}` }, action: 'test.lone_surrogate', target: `t${'\udc00'}`, outcome: 'success',
      ip: `ip${LONE}`, userAgent: `ua${LONE}`, requestId: `r${LONE}`, metadata: { [`k${LONE}`]: [`v${'\udfff'}`], ok: '😀' },
    });
    const [row] = await rows('test.lone_surrogate');
    expect(row).toMatchObject({ actor_id: 'u\ufffd', target: 't\ufffd', ip: 'ip\ufffd', user_agent: 'ua\ufffd', request_id: 'r\ufffd', metadata: { 'k\ufffd': ['v\ufffd'], ok: '😀' } });
    // What was hashed is what was stored: the chain verifies.
    expect(await t.deps.audit.verify()).toMatchObject({ breaks: [] });
  });
});

describe('other client strings that reach Postgres (jsonb) are made well-formed too, not a 500', () => {
  it('a policy condition literal with a lone surrogate is stored with U+FFFD', async () => {
    const u = await signUp();
    const org = await call(t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: `Org${LONE}` } });
    expect(org.statusCode, org.body).toBe(200);
    expect(org.data.name).toBe('Org\ufffd');
    const pol = await call(t.app, {
      method: 'POST', url: `/auth/orgs/${org.data.id}/policies`, token: u.accessToken,
      json: { name: `p${LONE}`, effect: 'deny', actions: ['assets:read'], condition: { eq: [{ var: 'resource.attributes.label' }, `x${LONE}`] } },
    });
    expect(pol.statusCode, pol.body).toBe(200);
    expect(pol.data.condition).toEqual({ eq: [{ var: 'resource.attributes.label' }, 'x\ufffd'] });
  });
});

describe('an audit write that fails fails the request closed', () => {
  const revoke = () => t.stores.sql.ownerQuery('REVOKE INSERT ON audit_events FROM authplane_app');
  const grant = () => t.stores.sql.ownerQuery('GRANT INSERT ON audit_events TO authplane_app');

  it('a successful handoff verify answers 503 unavailable (not 200) when its audit row cannot be written', async () => {
    const u = await signUp();
    const issued = await call(t.app, { method: 'POST', url: '/auth/token/issue', token: u.accessToken, json: { audience: ALLOWED } });
    expect(issued.statusCode, issued.body).toBe(200);
    await revoke();
    try {
      const res = await call(t.app, { method: 'POST', url: '/auth/token/verify', json: { token: issued.data.token, audience: ALLOWED } });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.data).toMatchObject({ error: 'unavailable', requestId: expect.any(String) });
      expect(res.body).not.toMatch(/permission|audit_events|stack/i);
      // A sign-in is not confirmed without its row either.
      const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: `au${n}-${process.pid}@example.com`, password: 'correct horse battery staple' } });
      expect(login.statusCode, login.body).toBe(503);
      expect(login.data.tokens).toBeUndefined();
    } finally {
      await grant();
    }
    expect(t.logs.join('')).toMatch(/audit write failed/);
    // Writes resume once the log is writable again.
    const ok = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: `au${n}-${process.pid}@example.com`, password: 'correct horse battery staple' } });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('an MCP tool call whose audit row cannot be written returns no result', async () => {
    await revoke();
    try {
      const res = await mcp({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
      // A JSON-RPC error instead of the tool's result.
      expect(res.data.result, res.body).toBeUndefined();
      expect(res.data.error).toMatchObject({ code: -32603, message: expect.stringMatching(/audit log could not be written/) });
    } finally {
      await grant();
    }
  });
});
