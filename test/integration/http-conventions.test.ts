import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/server.js';
import { createTestApp, call, type TestApp } from '../helpers/app.js';
import { PLANTED_SECRET, probeModule, routeWithoutAuthModule } from '../helpers/probe.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let t: TestApp;
let acme: { id: string; slug: string };

beforeAll(async () => {
  t = await createTestApp({ extraModules: [probeModule()] });
  acme = await t.deps.tenants.create({ slug: 'acme-http', name: 'Acme' });
});
afterAll(async () => { await t?.close(); });

/** DESIGN §5 security headers, asserted on one response. */
function expectSecurityHeaders(res: LightMyRequestResponse): void {
  const h = res.headers;
  const hsts = String(h['strict-transport-security']);
  expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(31_536_000);
  expect(hsts).toMatch(/includeSubDomains/);
  const csp = String(h['content-security-policy']);
  expect(csp).toMatch(/default-src 'none'/);
  expect(csp).toMatch(/frame-ancestors 'none'/);
  expect(csp).toMatch(/base-uri 'none'/);
  expect(h['x-frame-options']).toBe('DENY');
  expect(h['x-content-type-options']).toBe('nosniff');
  expect(h['referrer-policy']).toBe('no-referrer');
  expect(h['x-powered-by']).toBeUndefined();
  expect(h.server).toBeUndefined();
  expect(h['x-request-id']).toBeTruthy();
}

/** The error shape of DESIGN §5, with the request id of the response header. */
function expectError(res: LightMyRequestResponse & { data: any }, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.data).toMatchObject({ error: code, message: expect.any(String), requestId: res.headers['x-request-id'] });
  expect(res.data.message.length).toBeGreaterThan(0);
  expect(res.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  expectSecurityHeaders(res);
}

describe('start-up guard', () => {
  it('refuses to start when a route declares no config.auth', async () => {
    await expect(buildApp(t.config, { deps: t.deps, extraModules: [routeWithoutAuthModule()] }))
      .rejects.toThrow(/GET \/auth\/probe\/no-auth declares no config\.auth/);
  });
});

describe('request id', () => {
  it('echoes a sane x-request-id in the header and in error bodies', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/nope', headers: { 'x-request-id': 'req-abc_123:4.5' } });
    expect(res.headers['x-request-id']).toBe('req-abc_123:4.5');
    expect(res.data.requestId).toBe('req-abc_123:4.5');
  });

  it('makes a fresh uuid when none is sent, different for each request', async () => {
    const a = await call(t.app, { method: 'GET', url: '/auth/health' });
    const b = await call(t.app, { method: 'GET', url: '/auth/health' });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it.each([
    ['oversized', 'a'.repeat(129)],
    ['html', '<script>alert(1)</script>'],
    ['spaces', 'two words'],
    ['log-forging', 'x\\n{"level":"fatal"}'],
    ['non-ascii', 'r\u00e9q'],
    ['empty', ''],
  ])('replaces a hostile x-request-id (%s) with a uuid', async (_name, value) => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/boom', headers: { 'x-request-id': value } });
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(res.data.requestId).toBe(res.headers['x-request-id']);
  });

  it('takes one id when the header is sent twice', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/auth/health', headers: { 'x-request-id': ['one', 'two'] as unknown as string } });
    expect(res.headers['x-request-id']).toMatch(UUID);
  });
});

describe('security headers on every response', () => {
  it('200', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/health' });
    expect(res.statusCode).toBe(200);
    expectSecurityHeaders(res);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('400, 404, 413, 415, 500, 503 — each in the error shape with no-store', async () => {
    const cases: [Promise<LightMyRequestResponse & { data: any }>, number, string][] = [
      [call(t.app, { method: 'POST', url: '/auth/probe/echo', json: { name: '' } }), 400, 'validation_failed'],
      [call(t.app, { method: 'GET', url: '/auth/does-not-exist' }), 404, 'not_found'],
      [call(t.app, { method: 'POST', url: '/auth/probe/echo', json: { name: 'x'.repeat(2 * 1024 * 1024) } }), 413, 'payload_too_large'],
      [call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: 'name=x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type'],
      [call(t.app, { method: 'GET', url: '/auth/probe/boom' }), 500, 'internal_error'],
      [call(t.app, { method: 'GET', url: '/auth/probe/db-down' }), 503, 'unavailable'],
    ];
    for (const [p, status, code] of cases) {
      const res = await p;
      expectError(res, status, code);
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('a malformed URL → 400 and a path parameter over 256 characters → 404, in the error shape with the headers (Fastify answers these before any hook)', async () => {
    for (const [url, status, code] of [
      ['/auth/admin/users/%zz', 400, 'validation_failed'],
      ['/oidc/%E0%A4%A/.well-known/openid-configuration', 400, 'validation_failed'],
      [`/auth/admin/users/${'a'.repeat(300)}`, 404, 'not_found'],
      [`/oidc/${'a'.repeat(300)}/.well-known/openid-configuration`, 404, 'not_found'],
    ] as const) {
      const res = await call(t.app, { method: 'GET', url, headers: { 'x-request-id': 'framework-1' } });
      expectError(res, status, code);
      expect(res.headers['x-request-id']).toBe('framework-1');
      expect(res.data.requestId).toBe('framework-1');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).not.toMatch(/FST_ERR|statusCode/);
    }
  });

  it('404 on the server root and on unknown methods', async () => {
    expectError(await call(t.app, { method: 'GET', url: '/' }), 404, 'not_found');
    expectError(await call(t.app, { method: 'DELETE', url: '/auth/health' }), 404, 'not_found');
  });
});

describe('bodies', () => {
  it('accepts a valid JSON body', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', json: { name: 'ok', tags: ['a'] } });
    expect(res.statusCode).toBe(200);
    expect(res.data).toEqual({ received: { name: 'ok', tags: ['a'] } });
  });

  it('accepts application/json with a charset parameter', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: '{"name":"ok"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.statusCode).toBe(200);
  });

  it('413 payload_too_large above the body limit', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: `{"name":"${'x'.repeat(1024 * 1024 + 10)}"}`, headers: { 'content-type': 'application/json' } });
    expectError(res, 413, 'payload_too_large');
  });

  it.each([
    ['text/plain', '{"name":"x"}'],
    ['application/x-www-form-urlencoded', 'name=x'],
    ['application/xml', '<name>x</name>'],
    ['text/xml', '<name>x</name>'],
    ['multipart/form-data; boundary=abc', '--abc\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--abc--'],
  ])('415 unsupported_media_type for %s on a JSON route', async (type, payload) => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': type } });
    expectError(res, 415, 'unsupported_media_type');
  });

  it.each([
    ['truncated', '{"name":"x"'],
    ['trailing comma', '{"name":"x",}'],
    ['single quotes', "{'name':'x'}"],
    ['bare word', 'hello'],
    ['two documents', '{"name":"x"}{"name":"y"}'],
  ])('400 invalid_json for malformed JSON (%s)', async (_n, payload) => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
    expectError(res, 400, 'invalid_json');
  });

  it('400 for invalid UTF-8', async () => {
    const payload = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
    expectError(res, 400, 'invalid_json');
  });

  it('400 for a NUL character in a string value or a key', async () => {
    for (const payload of ['{"name":"a\\u0000b"}', '{"name":"ok","tags":["\\u0000"]}', '{"na\\u0000me":"x"}']) {
      const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      expectError(res, 400, res.data.error);
      expect(['validation_failed', 'invalid_json']).toContain(res.data.error);
    }
  });

  it('400 for a __proto__ or constructor.prototype key, at the top or nested', async () => {
    for (const payload of ['{"name":"x","__proto__":{"admin":true}}', '{"name":"x","nested":{"__proto__":{"admin":true}}}', '{"name":"x","constructor":{"prototype":{"admin":true}}}']) {
      const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      expect(['validation_failed', 'invalid_json']).toContain(res.data.error);
      expectError(res, 400, res.data.error);
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('400 (not 500) for a 100,000-deep nested array or object, and the process keeps serving', async () => {
    const depth = 100_000;
    for (const payload of [`{"name":"x","tags":${'['.repeat(depth)}${']'.repeat(depth)}}`, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(400);
      expect(['validation_failed', 'invalid_json']).toContain(res.data.error);
      expectError(res, 400, res.data.error);
    }
    expect((await call(t.app, { method: 'GET', url: '/auth/health' })).statusCode).toBe(200);
  });

  it('an empty body on a route with a required body is a validation error, not a crash', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, {}]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: '', headers });
      expect(res.statusCode).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });

  it('duplicate keys: the last one wins, and that is the value validated', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: '{"name":"","name":"second"}', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(res.data.received.name).toBe('second');
    const bad = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload: '{"name":"ok","name":""}', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('validation errors', () => {
  it('400 validation_failed with details [{path, message}] for the body', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', json: { name: 'ok', count: -1, nested: { email: 'nope' } } });
    expectError(res, 400, 'validation_failed');
    expect(Array.isArray(res.data.details)).toBe(true);
    expect(res.data.details.length).toBeGreaterThan(0);
    for (const d of res.data.details) expect(d).toEqual({ path: expect.any(String), message: expect.any(String) });
    const paths = res.data.details.map((d: { path: string }) => d.path);
    expect(paths.some((p: string) => /count/.test(p))).toBe(true);
  });

  it('names the missing field', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', json: {} });
    expectError(res, 400, 'validation_failed');
    expect(res.data.details.map((d: { path: string }) => d.path).join(' ')).toMatch(/name/);
  });

  it('refuses unknown keys on a strict body', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', json: { name: 'ok', isAdmin: true } });
    expectError(res, 400, 'validation_failed');
  });

  it('validates the query string as well', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/query?limit=abc' });
    expectError(res, 400, 'validation_failed');
    expect(res.data.details[0].path).toMatch(/limit/);
    expect((await call(t.app, { method: 'GET', url: '/auth/probe/query?limit=3' })).data).toEqual({ received: { limit: 3 } });
  });

  it('a JSON array or scalar where an object is expected is a validation error', async () => {
    for (const payload of ['[]', '"name"', '42', 'null']) {
      const res = await call(t.app, { method: 'POST', url: '/auth/probe/echo', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });
});

describe('server errors', () => {
  it('500 internal_error leaks neither message nor stack, and logs the cause with the request id', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/boom', headers: { 'x-request-id': 'boom-req-1' } });
    expectError(res, 500, 'internal_error');
    expect(Object.keys(res.data).sort()).toEqual(['error', 'message', 'requestId']);
    expect(res.body).not.toMatch(/kaboom|secret\/path|ck_/);
    const line = t.logs.find((l) => l.includes('boom-req-1') && l.includes('kaboom'));
    expect(line, 'the error is logged with its request id').toBeDefined();
    const logged = JSON.parse(line!);
    expect(logged.level).toBe('error');
    expect(logged.reqId, 'a line logged while serving a request carries its id as a binding').toBe('boom-req-1');
    expect(logged.err).toMatchObject({ message: expect.stringMatching(/kaboom/) });
    expect(line, 'no stack trace in a log line either (DESIGN §5)').not.toMatch(/"stack"|\\n\s+at /);
    // One request line per request, with the id and the route (made on the root logger, no per-request child).
    const requestLine = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.requestId === 'boom-req-1');
    expect(requestLine).toMatchObject({ level: 'info', method: 'GET', route: '/auth/probe/boom', status: 500 });
    // The log is redacted too: the secret-shaped value in the error message is not written.
    expect(t.logs.join('\n')).not.toContain(PLANTED_SECRET);
  });

  it('the request line redacts secret-looking query values (the logger\'s url serializer)', async () => {
    await call(t.app, { method: 'GET', url: '/auth/health?token=sekrit-value-123&x=1', headers: { 'x-request-id': 'url-req-1' } });
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.requestId === 'url-req-1');
    expect(line?.url).toBe('/auth/health?token=[REDACTED]&x=1');
    expect(t.logs.join('\n')).not.toContain('sekrit-value-123');
  });

  it('503 unavailable when the database cannot be reached', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/db-down' });
    expectError(res, 503, 'unavailable');
    expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });

  it('503 unavailable when the key-value store cannot be reached', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/kv-down' });
    expectError(res, 503, 'unavailable');
  });
});

describe('tenant header', () => {
  it('uses the default tenant without X-Tenant-ID', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/tenant' });
    expect(res.data).toMatchObject({ slug: 'default', fromHeader: false });
  });

  it('resolves X-Tenant-ID by slug and by uuid (any case)', async () => {
    for (const ref of [acme.slug, acme.id, acme.id.toUpperCase()]) {
      const res = await call(t.app, { method: 'GET', url: '/auth/probe/tenant', headers: { 'x-tenant-id': ref } });
      expect(res.statusCode, ref).toBe(200);
      expect(res.data).toEqual({ id: acme.id, slug: acme.slug, fromHeader: true });
    }
  });

  it.each([
    ['unknown slug', 'no-such-tenant'],
    ['unknown uuid', '00000000-0000-4000-8000-000000000000'],
    ['garbage', "'; DROP TABLE tenants; --"],
  ])('404 not_found naming the header for an %s', async (_n, ref) => {
    const res = await call(t.app, { method: 'GET', url: '/auth/probe/tenant', headers: { 'x-tenant-id': ref } });
    expectError(res, 404, 'not_found');
    expect(res.data.message).toMatch(/X-Tenant-ID/);
  });
});

describe('over a real socket', () => {
  let base: string;
  beforeAll(async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = t.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });

  const asResponse = async (r: Response) => {
    const body = await r.text();
    const headers = Object.fromEntries(r.headers.entries());
    return { statusCode: r.status, headers, body, data: JSON.parse(body), json: () => JSON.parse(body) } as unknown as LightMyRequestResponse & { data: any };
  };

  it('200 and 404 carry the headers and no Server / X-Powered-By', async () => {
    const ok = await asResponse(await fetch(`${base}/auth/health`));
    expect(ok.statusCode).toBe(200);
    expectSecurityHeaders(ok);
    expectError(await asResponse(await fetch(`${base}/auth/nope`)), 404, 'not_found');
  });

  it('413 for a declared Content-Length above the limit, before the body is read', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const res = await asResponse(await fetch(`${base}/auth/probe/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"name":"${big}"}` }));
    expectError(res, 413, 'payload_too_large');
  });

  it('400 for a malformed percent-encoding in the URL', async () => {
    const res = await asResponse(await fetch(`${base}/auth/probe/query?limit=%E0%A4%A`));
    expect(res.statusCode).toBe(400);
    expectError(res, 400, res.data.error);
  });
});
