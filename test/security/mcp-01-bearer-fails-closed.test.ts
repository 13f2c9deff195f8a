import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { register } from '../helpers/identity.js';
import type { Kv } from '../../src/kv/kv.js';
import { KvUnavailableError } from '../../src/kv/kv-errors.js';
import { AppError } from '../../src/http/errors.js';
import { loadConfig } from '../../src/config.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createMcpBearer } from '../../src/modules/mcp/bearer.js';
import { SESSION_CACHE_TTL_MS } from '../../src/modules/mcp/session-cache.js';
import { SESSION_CHECK_TTL_MS } from '../../src/modules/sessions/check-cache.js';

/**
 * MCP-01 (and AV-01 for /mcp): the bearer fails closed. No bearer → 401 with the RFC 9728 pointer; any
 * other credential than a live access token (MCP_TOKEN is unset here, so static mode is off) → 401; when
 * the session store cannot answer, a token without a fresh cache entry is refused (503), never let in.
 * The key–value store here refuses session reads on demand (`sessionStoreDown`), while the limiter, which
 * fails closed on its own (see mcp-av-01), keeps working, so what is tested is the bearer's own rule.
 */
const ORIGIN = 'https://app.example';
let t: TestApp;
let stores: Stores;
let sessionStoreDown = false;

/** The same store, whose session reads (`mget`, the bearer check's one round trip) fail while `sessionStoreDown`. */
function withFailingSessionReads(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'mget') {
        return (keys: string[]) => (sessionStoreDown ? Promise.reject(new KvUnavailableError('kv unavailable: test outage')) : target.mget(keys));
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const MCP_BODY = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
const ACCEPT = { accept: 'application/json, text/event-stream' };
const mcp = (authorization?: string, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/mcp', json: MCP_BODY, headers: { ...ACCEPT, ...(authorization === undefined ? {} : { authorization }), ...headers } });
const METADATA = `${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource`;

beforeAll(async () => {
  stores = await createStores();
  t = await createTestApp({ stores: { ...stores, kv: withFailingSessionReads(stores.kv) } });
  const tenant = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ORIGIN] } });
});
afterAll(async () => {
  await t?.close();
  await stores?.drop();
});

describe(`MCP-01: bearer authentication fails closed (${BACKEND})`, () => {
  it('no Authorization → 401 with WWW-Authenticate naming the protected-resource metadata, on every method', async () => {
    for (const method of ['POST', 'GET', 'DELETE'] as const) {
      const res = await call(t.app, { method, url: '/mcp', headers: ACCEPT, ...(method === 'POST' ? { json: MCP_BODY } : {}) });
      expect(res.statusCode, method).toBe(401);
      expect(res.data.error).toBe('unauthorized');
      expect(res.headers['www-authenticate']).toBe(`Bearer resource_metadata="${METADATA}", scope="mcp:read mcp:write"`);
    }
  });

  it('a wrong, empty or malformed bearer → 401 invalid_token; with MCP_TOKEN unset nothing matches static mode', async () => {
    expect(t.config.mcpToken).toBeUndefined();
    for (const authorization of ['Bearer wrong', 'Bearer ""', 'Bearer ', 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer a b', `Bearer ${'x'.repeat(9000)}`]) {
      const res = await mcp(authorization);
      expect(res.statusCode, authorization.slice(0, 30)).toBe(401);
      expect(res.data.error, authorization.slice(0, 30)).toBe('invalid_token');
      expect(res.headers['www-authenticate']).toBe(`Bearer error="invalid_token", resource_metadata="${METADATA}", scope="mcp:read mcp:write"`);
    }
  });

  it('unset MCP_TOKEN disables static mode at the service too (an empty bearer never equals an empty token)', async () => {
    const refuse = { authenticate: async () => { throw new AppError('invalid_token', 'no'); } };
    for (const env of [{}, { MCP_TOKEN: '' }]) {
      const bearer = createMcpBearer({ config: loadConfig({ AUTH_SECRET: 'x'.repeat(40), ...env }), clock: createManualClock(), sessions: refuse, generation: () => 1 });
      for (const authorization of ['Bearer ""', 'Bearer undefined', 'Bearer null']) {
        await expect(bearer.authenticate({ authorization })).rejects.toMatchObject({ code: 'invalid_token' });
      }
    }
  });

  it('API keys, admin keys, refresh tokens, cookies and cross-domain handoff tokens are not MCP bearers', async () => {
    const u = await register(t.app);
    const apiKey = u.body.apiKey as string;
    expect(apiKey).toMatch(/^ck_/);
    expect((await mcp(`Bearer ${apiKey}`)).statusCode).toBe(401);
    expect((await mcp(undefined, { 'x-api-key': apiKey })).statusCode).toBe(401);
    expect((await mcp(`Bearer ${u.accessToken}`, { 'x-api-key': apiKey })).statusCode).toBe(401);
    const admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 1 });
    expect((await mcp(`Bearer ${admin.key}`)).statusCode).toBe(401);
    expect((await mcp(`Bearer ${u.refreshToken}`)).statusCode).toBe(401);
    const cookie = await call(t.app, { method: 'POST', url: '/mcp', json: MCP_BODY, headers: { ...ACCEPT, cookie: `__Host-ap_access=${u.accessToken}` } });
    expect(cookie.statusCode).toBe(401);
    const issued = await call(t.app, { method: 'POST', url: '/auth/token/issue', token: u.accessToken, json: { audience: ORIGIN } });
    expect(issued.statusCode, issued.body).toBe(200);
    expect((await mcp(`Bearer ${issued.data.token}`)).statusCode).toBe(401);
    // The same user's access token works: the refusals above are about the credential kind.
    expect((await mcp(`Bearer ${u.accessToken}`)).statusCode).toBe(200);
  });

  it('a revoked session\'s access token and an expired one → 401', async () => {
    const u = await register(t.app);
    expect((await mcp(`Bearer ${u.accessToken}`)).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken })).statusCode).toBe(200);
    expect((await mcp(`Bearer ${u.accessToken}`)).statusCode).toBe(401);

    const v = await register(t.app);
    expect((await mcp(`Bearer ${v.accessToken}`)).statusCode).toBe(200);
    t.clock.advance(15 * 60_000 + 60_000);
    const expired = await mcp(`Bearer ${v.accessToken}`);
    expect(expired.statusCode).toBe(401);
  });

  it('session store unreachable: a token with a fresh cache entry is served, any other is refused 503; past 60 s all are', async () => {
    const cached = await register(t.app);
    const uncached = await register(t.app);
    expect((await mcp(`Bearer ${cached.accessToken}`)).statusCode).toBe(200);
    sessionStoreDown = true;
    try {
      // A state-changing REST request reads the store (fresh), so it is refused too (AV-01); only the REST
      // check cache's own young entries (≤ 5 s, while pub/sub is up) may answer reads.
      expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: cached.accessToken })).statusCode).toBe(503);
      t.clock.advance(SESSION_CHECK_TTL_MS + 1);
      expect((await call(t.app, { method: 'GET', url: '/auth/user', token: cached.accessToken })).statusCode).toBe(503);
      expect((await mcp(`Bearer ${cached.accessToken}`)).statusCode).toBe(200);
      const refused = await mcp(`Bearer ${uncached.accessToken}`);
      expect(refused.statusCode).toBe(503);
      expect(refused.data.error).toBe('unavailable');
      t.clock.advance(SESSION_CACHE_TTL_MS - SESSION_CHECK_TTL_MS);
      const stale = await mcp(`Bearer ${cached.accessToken}`);
      expect(stale.statusCode).toBe(503);
      expect(stale.data.error).toBe('unavailable');
    } finally {
      sessionStoreDown = false;
    }
    expect((await mcp(`Bearer ${cached.accessToken}`)).statusCode).toBe(200);
    expect((await mcp(`Bearer ${uncached.accessToken}`)).statusCode).toBe(200);
  });

  it('a mutating tool re-checks the session in the store: with the store unreachable it does not run, even with a cached bearer', async () => {
    const u = await register(t.app);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_api_keys', arguments: {} } };
    const keysBefore = (await call(t.app, { method: 'POST', url: '/mcp', json: list, token: u.accessToken, headers: ACCEPT })).data.result.structuredContent.items.length;
    sessionStoreDown = true;
    let res;
    try {
      res = await call(t.app, { method: 'POST', url: '/mcp', token: u.accessToken, headers: ACCEPT,
        json: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'create_api_key', arguments: { name: 'k', scopes: ['*'] } } } });
    } finally {
      sessionStoreDown = false;
    }
    expect(res.statusCode).toBe(200);
    expect(res.data.result.isError).toBe(true);
    expect(JSON.parse(res.data.result.content[0].text).error).toBe('unavailable');
    const after = (await call(t.app, { method: 'POST', url: '/mcp', json: list, token: u.accessToken, headers: ACCEPT })).data.result.structuredContent.items.length;
    expect(after).toBe(keysBefore);
  });

  it('an X-Tenant-ID naming another tenant than the token → 403 tenant_mismatch, audited', async () => {
    await t.deps.tenants.create({ slug: 'mcp01-t2', name: 'T2' });
    const u = await register(t.app);
    const res = await mcp(`Bearer ${u.accessToken}`, { 'x-tenant-id': 'mcp01-t2' });
    expect(res.statusCode).toBe(403);
    expect(res.data.error).toBe('tenant_mismatch');
    const rows = (await t.deps.audit.list({ action: 'auth.tenant_mismatch', actorId: u.userId, limit: 5 })).items;
    expect(rows).toHaveLength(1);
  });
});
