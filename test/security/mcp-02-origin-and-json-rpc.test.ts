import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { register } from '../helpers/identity.js';
import { freshIp } from '../integration/rate-limit/helpers.js';
import { listen, rawPost, rpc, toolCalls } from '../integration/mcp/mcp-helpers.js';

/**
 * MCP-02 and the endpoint's bad-input behaviour: a foreign browser Origin → 403; JSON-RPC garbage (not
 * JSON, not a message, batches, unknown methods, unknown tools, arguments of the wrong type or too large)
 * → the matching JSON-RPC error, never a 5xx; every response carries the security headers (HDR-01);
 * refused bearers are limited like credentials (RL-06) while a live bearer gets the ordinary limit.
 */
const ALLOWED_ORIGIN = 'https://app.example';
let t: TestApp;
let base: string;
let token: string;

beforeAll(async () => {
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS });
  const tenant = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ALLOWED_ORIGIN] } });
  base = await listen(t.app);
  token = (await register(t.app)).accessToken;
});
afterAll(async () => { await t?.close(); });

const auth = () => ({ authorization: `Bearer ${token}` });
const ACCEPT = { accept: 'application/json, text/event-stream' };
/** An injected POST /mcp from its own address (the per-address limits stay out of the way). */
const post = (payload: string, headers: Record<string, string> = {}) => call(t.app, {
  method: 'POST', url: '/mcp', payload, remoteAddress: freshIp(),
  headers: { 'content-type': 'application/json', ...ACCEPT, ...auth(), ...headers },
});
const toolCall = (name: unknown, args?: unknown, id = 7) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, ...(args === undefined ? {} : { arguments: args }) } });

describe(`MCP-02: Origin validation (${BACKEND})`, () => {
  it('a browser Origin that is not one of the tenant\'s allowed origins → 403, before any tool runs', async () => {
    const before = (await toolCalls(t)).length;
    for (const origin of ['https://evil.example', 'null', `${ALLOWED_ORIGIN}.evil.example`, 'http://app.example']) {
      const res = await post(toolCall('whoami', {}), { origin });
      expect(res.statusCode, origin).toBe(403);
      expect(res.data.error).toBe('forbidden');
    }
    expect((await toolCalls(t)).length).toBe(before);
    const ok = await post(toolCall('whoami', {}), { origin: ALLOWED_ORIGIN });
    expect(ok.statusCode).toBe(200);
    expect(ok.data.result.structuredContent.principal).toBe('user');
  });
});

describe('MCP-02: JSON-RPC robustness — errors, never a 5xx', () => {
  it('a body that is not JSON → 400 -32700; JSON that is not a JSON-RPC message → 400 -32600', async () => {
    for (const body of ['{oops', '', ' ', '{"jsonrpc":"2.0","id":1,"method":"ping"', '\u0000', '{"__proto__":{"x":1},"jsonrpc":"2.0","id":1,"method":"ping"}', `${'['.repeat(100)}${']'.repeat(100)}`,
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"x":"a\\u0000b"}}}']) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body.slice(0, 30))).toBe(400);
      expect(res.data.error.code, JSON.stringify(body.slice(0, 30))).toBe(-32700);
      expect(res.data.jsonrpc).toBe('2.0');
    }
    for (const body of ['"text"', '123', 'null', '{}', '{"jsonrpc":"1.0","id":1,"method":"ping"}', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', '{"jsonrpc":"2.0","id":1,"method":42}']) {
      const res = await post(body);
      expect(res.statusCode, body).toBe(400);
      expect(res.data.error.code, body).toBe(-32600);
    }
  });

  it('a batch → 400 -32600, and none of its calls runs', async () => {
    const before = (await toolCalls(t)).length;
    const res = await post(JSON.stringify([JSON.parse(toolCall('whoami', {}, 1)), JSON.parse(toolCall('list_sessions', {}, 2))]));
    expect(res.statusCode).toBe(400);
    expect(res.data.error.code).toBe(-32600);
    expect((await toolCalls(t)).length).toBe(before);
    expect((await post('[]')).data.error.code).toBe(-32600);
  });

  it('an unknown method → -32601; ping and a notification answer normally', async () => {
    const res = await post(rpc('tools/destroy_everything'));
    expect(res.statusCode).toBe(200);
    expect(res.data).toMatchObject({ jsonrpc: '2.0', id: 1, error: { code: -32601 } });
    expect((await post(rpc('ping'))).data).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    const note = await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(note.statusCode).toBe(202);
    expect(note.body).toBe('');
  });

  it('an unknown tool, wrong argument types, unknown arguments and malformed params → -32602, each audited', async () => {
    const before = (await toolCalls(t)).length;
    const cases: [unknown, unknown][] = [
      ['no_such_tool', {}],
      ['revoke_session', { id: 5 }],
      ['revoke_session', { id: 'not-a-uuid' }],
      ['create_api_key', { name: 'k', scopes: 'all' }],
      ['create_api_key', { name: 'k', scopes: ['*'], isAdmin: true }],
      ['list_organizations', { limit: '10' }],
      ['check_permission', { action: 'assets:*' }],
      ['whoami', { extra: 1 }],
      ['whoami', ['not', 'an', 'object']],
      ['whoami', 'string'],
      [42, {}],
      [null, {}],
    ];
    for (const [name, args] of cases) {
      const res = await post(toolCall(name, args));
      expect(res.statusCode, JSON.stringify([name, args])).toBe(200);
      expect(res.data.error?.code, JSON.stringify([name, args, res.data])).toBe(-32602);
      expect(res.data.id).toBe(7);
    }
    const missing = await post(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call' }));
    expect(missing.data.error.code).toBe(-32602);
    const rows = await toolCalls(t);
    expect(rows.length - before).toBe(cases.length + 1);
    for (const r of rows.slice(0, cases.length + 1)) expect(r).toMatchObject({ outcome: 'failure', metadata: { error: 'invalid_params' } });
    // The details name the offending argument.
    const typed = await post(toolCall('revoke_session', { id: 5 }));
    expect(JSON.stringify(typed.data.error)).toMatch(/id/);
  });

  it('oversized arguments: above 64 KiB → -32602 (stored in the audit as a size only); above the 1 MiB body limit → 413', async () => {
    const big = await post(toolCall('create_api_key', { name: 'k', scopes: ['*'], note: 'x'.repeat(100_000) }));
    expect(big.statusCode).toBe(200);
    expect(big.data.error.code).toBe(-32602);
    expect(big.data.error.message).toMatch(/at most 65536/);
    const row = (await toolCalls(t))[0]!;
    expect(row.metadata.arguments).toEqual({ omitted: 'too large', bytes: expect.any(Number) });

    const oneMb = await post(toolCall('whoami', { a: 'x'.repeat(1024 * 1024) }));
    expect(oneMb.statusCode).toBe(413);
    expect(oneMb.data.error).toBe('payload_too_large');
    const almost = await post(toolCall('whoami', { a: 'x'.repeat(1_000_000) }));
    expect([200, 413]).toContain(almost.statusCode);
    if (almost.statusCode === 200) expect(almost.data.error.code).toBe(-32602);
  });

  it('the wrong media type → 415; an Accept without text/event-stream → 406 (JSON-RPC error); GET and DELETE → 405', async () => {
    const plain = await post('{"jsonrpc":"2.0","id":1,"method":"ping"}', { 'content-type': 'text/plain' });
    expect(plain.statusCode).toBe(415);
    const accept = await post(rpc('ping'), { accept: 'application/json' });
    expect(accept.statusCode).toBe(406);
    expect(accept.data.error.code).toBe(-32000);
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await call(t.app, { method, url: '/mcp', headers: { ...auth(), accept: 'text/event-stream' } });
      expect(res.statusCode, method).toBe(405);
      expect(res.headers.allow).toBe('POST');
      expect(res.data.error).toBe('method_not_allowed');
    }
  });

  it('no input of a garbage list gives a 5xx', async () => {
    const bodies = [
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":{}}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":"x"}}',
      '{"jsonrpc":"2.0","id":1,"result":{}}',
      '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}',
      '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
      `{"jsonrpc":"2.0","id":"${'9'.repeat(5000)}","method":"ping"}`,
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"check_permission","arguments":{"action":"a:b","resource":{"type":"t","attributes":{"x":[[[[{"y":1}]]]]}}}}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"constructor":{"prototype":{"x":1}}}}}',
    ];
    for (const body of bodies) {
      const res = await post(body);
      expect(res.statusCode, body.slice(0, 80)).toBeLessThan(500);
    }
  });
});

describe('HDR-01 on /mcp: security headers on every answer', () => {
  it('200, 202, 400, 401, 403, 405, 406, 413 and 415 all carry them, over a real socket', async () => {
    const answers = [
      await rawPost(base, rpc('ping'), auth()),
      await rawPost(base, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), auth()),
      await rawPost(base, '{oops', auth()),
      await rawPost(base, rpc('ping')),
      await rawPost(base, rpc('ping'), { ...auth(), origin: 'https://evil.example' }),
      await rawPost(base, rpc('ping'), { ...auth(), accept: 'application/json' }),
      await rawPost(base, JSON.stringify({ a: 'x'.repeat(1024 * 1024 + 10) }), auth()),
      await rawPost(base, 'x', { ...auth(), 'content-type': 'text/plain' }),
    ];
    const get = await fetch(`${base}/mcp`, { headers: auth() });
    const all = [...answers.map((a) => ({ status: a.status, headers: a.headers })), { status: get.status, headers: get.headers }];
    expect(all.map((a) => a.status)).toEqual([200, 202, 400, 401, 403, 406, 413, 415, 405]);
    for (const { status, headers } of all) {
      expect(headers.get('strict-transport-security'), String(status)).toMatch(/max-age=31536000; includeSubDomains/);
      expect(headers.get('content-security-policy'), String(status)).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
      expect(headers.get('content-security-policy')).toMatch(/base-uri 'none'/);
      expect(headers.get('x-content-type-options'), String(status)).toBe('nosniff');
      expect(headers.get('referrer-policy'), String(status)).toBe('no-referrer');
      expect(headers.get('cache-control'), String(status)).toBe('no-store');
      expect(headers.get('x-request-id'), String(status)).toBeTruthy();
      expect(headers.get('x-powered-by'), String(status)).toBeNull();
      expect(headers.get('server'), String(status)).toBeNull();
    }
  });
});

describe('RL-06 on /mcp: refused bearers are limited like credentials; a live bearer is not held to that limit', () => {
  it('the 21st refused bearer from an address in a minute → 429 with Retry-After', async () => {
    const ip = freshIp();
    const bad = () => call(t.app, { method: 'POST', url: '/mcp', payload: rpc('ping'), remoteAddress: ip, headers: { 'content-type': 'application/json', ...ACCEPT, authorization: 'Bearer not-a-token' } });
    for (let i = 0; i < 20; i += 1) {
      const res = await bad();
      expect(res.statusCode, `attempt ${i + 1}`).toBe(401);
      expect(res.headers['ratelimit-limit']).toBe('20');
    }
    const last = await bad();
    expect(last.statusCode).toBe(429);
    expect(last.data.error).toBe('rate_limited');
    expect(last.headers['retry-after']).toBeDefined();
  });

  it('30 calls with a live bearer from one address in a minute all answer (the default class, 600/60)', async () => {
    const ip = freshIp();
    for (let i = 0; i < 30; i += 1) {
      const res = await call(t.app, { method: 'POST', url: '/mcp', payload: rpc('ping', undefined, i), remoteAddress: ip, headers: { 'content-type': 'application/json', ...ACCEPT, ...auth() } });
      expect(res.statusCode, `call ${i + 1}`).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe('600');
    }
  });
});
