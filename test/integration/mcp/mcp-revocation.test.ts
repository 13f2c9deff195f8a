import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { register } from '../../helpers/identity.js';
import { kvKey } from '../../../src/kv/kv.js';
import { SESSION_CACHE_TTL_MS } from '../../../src/modules/mcp/session-cache.js';
import { SESSION_CHECK_TTL_MS } from '../../../src/modules/sessions/check-cache.js';
import { connect, listen, structured, toolError } from './mcp-helpers.js';

/**
 * The access-token bearer is cached per instance for at most 60 s, and revocation beats the bound: ending a
 * session (logout, DELETE /sessions, revoke_session) drops the cached entry on every instance through the
 * store's pub/sub, so the very next MCP call is refused. Without the pub/sub the bound still holds.
 */
let t: TestApp;
let second: { app: FastifyInstance };
let baseA: string;
let baseB: string;
const clients: Client[] = [];
const open = async (base: string, bearer: string) => {
  const c = await connect(base, bearer);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  t = await createTestApp();
  baseA = await listen(t.app);
  second = await t.second();
  baseB = await listen(second.app);
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.close();
});

/** The HTTP status the SDK client saw, or 200 when the call went through. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'number' ? code : -1;
  }
}

/** Polls until the call is refused (pub/sub delivery between instances is asynchronous); returns the status and the wait. */
async function refusedWithin(ms: number, attempt: () => Promise<unknown>): Promise<{ status: number; waitedMs: number }> {
  const started = Date.now();
  let status = 200;
  while (Date.now() - started < ms) {
    status = await statusOf(attempt());
    if (status !== 200) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { status, waitedMs: Date.now() - started };
}

describe(`MCP bearer cache and revocation (${BACKEND})`, () => {
  it('a logout on the REST API refuses the next MCP call on the same instance at once', async () => {
    const u = await register(t.app);
    const c = await open(baseA, u.accessToken);
    expect(structured(await c.callTool({ name: 'whoami', arguments: {} })).user.id).toBe(u.userId);
    expect(t.deps.services.mcp.bearer.cacheSize).toBeGreaterThan(0);
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken })).statusCode).toBe(200);
    // No waiting: the revocation reached this instance's cache before the logout answered.
    expect(await statusOf(c.callTool({ name: 'whoami', arguments: {} }))).toBe(401);
  });

  it('a logout on instance A refuses the token on instance B, whose cache had it, well within the bound', async () => {
    const u = await register(t.app);
    const onB = await open(baseB, u.accessToken);
    expect(structured(await onB.callTool({ name: 'whoami', arguments: {} })).user.id).toBe(u.userId);
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken })).statusCode).toBe(200);
    // The test clock does not move: only the pub/sub message can make B refuse it.
    const { status, waitedMs } = await refusedWithin(5_000, () => onB.callTool({ name: 'whoami', arguments: {} }));
    expect(status).toBe(401);
    expect(waitedMs).toBeLessThan(5_000);
  });

  it('DELETE /auth/sessions (everywhere) and revoke_session of the calling session refuse the token next call', async () => {
    const u = await register(t.app);
    const c = await open(baseA, u.accessToken);
    await c.callTool({ name: 'whoami', arguments: {} });
    expect((await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: u.accessToken })).statusCode).toBe(200);
    expect(await statusOf(c.callTool({ name: 'list_sessions', arguments: {} }))).toBe(401);

    const v = await register(t.app);
    const cv = await open(baseA, v.accessToken);
    const sid = structured(await cv.callTool({ name: 'list_sessions', arguments: {} })).items[0].id;
    expect(structured(await cv.callTool({ name: 'revoke_session', arguments: { id: sid } }))).toEqual({ revoked: true, id: sid });
    expect(await statusOf(cv.callTool({ name: 'whoami', arguments: {} }))).toBe(401);
  });

  it('without any revocation message, a session removed behind the cache\'s back is refused once the 60 s bound passes', async () => {
    const u = await register(t.app);
    const c = await open(baseA, u.accessToken);
    await c.callTool({ name: 'whoami', arguments: {} });
    const sid = JSON.parse(Buffer.from(u.accessToken.split('.')[1]!, 'base64url').toString()).sid as string;
    // Delete the session record directly in the store: nothing is announced.
    expect(await t.deps.kv.del(kvKey(u.body.user.tenantId, 'sess', u.body.user.id, sid))).toBe(1);
    // The REST bearer check has its own, shorter bound (src/modules/sessions/check-cache.ts).
    t.clock.advance(SESSION_CHECK_TTL_MS + 1);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken })).statusCode).toBe(401);
    // Within the bound the cached entry may still serve a read-only call…
    t.clock.advance(SESSION_CACHE_TTL_MS - 1_000 - SESSION_CHECK_TTL_MS - 1);
    expect(await statusOf(c.callTool({ name: 'whoami', arguments: {} }))).toBe(200);
    // …but a mutating tool re-checks the session in the store now and is refused (a tool error),
    expect(toolError(await c.callTool({ name: 'revoke_session', arguments: { id: sid } })).error).toBe('invalid_token');
    // and that refusal also forgot the cached entry.
    expect(await statusOf(c.callTool({ name: 'whoami', arguments: {} }))).toBe(401);
  });

  it('the bound itself: after 60 s a cached token is checked against the store again', async () => {
    const u = await register(t.app);
    const c = await open(baseA, u.accessToken);
    await c.callTool({ name: 'whoami', arguments: {} });
    const sid = JSON.parse(Buffer.from(u.accessToken.split('.')[1]!, 'base64url').toString()).sid as string;
    await t.deps.kv.del(kvKey(u.body.user.tenantId, 'sess', u.body.user.id, sid));
    t.clock.advance(SESSION_CACHE_TTL_MS + 1);
    expect(await statusOf(c.callTool({ name: 'whoami', arguments: {} }))).toBe(401);
  });
});
