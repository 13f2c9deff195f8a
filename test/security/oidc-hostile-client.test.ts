import net, { type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';

/**
 * The OpenID Provider's endpoints (issue 23) and the admin client routes tried by a hostile client: bodies
 * too large, malformed or of the wrong type, a body dripped a byte at a time, an unknown issuer, huge query
 * strings, a client secret guessed. Every answer is a 4xx (never a 500), carries no stack trace, and
 * nothing is created. The provider answers in OAuth's own error shape (RFC 6749 §5.2: `error`,
 * `error_description`) on its protocol endpoints; Authplane's routes in DESIGN §5's.
 */
let t: TestApp;
let adminKey: string;
let port: number;
let clientId: string;
let clientSecret: string;
const ISSUER_PATH = '/oidc/default';

const noStack = (body: string) => {
  expect(body).not.toMatch(/\n\s+at |"stack"|node_modules/);
};

beforeAll(async () => {
  t = await createTestApp({ env: { HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '800' } });
  adminKey = (await t.deps.adminKeys.create({ name: 'oidc-hostile', expiresInDays: 1 })).key;
  const created = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, json: { tenantId: 'default', name: 'Hostile RP', type: 'confidential', redirectUris: ['https://rp.example/cb'], scopes: ['openid', 'email'], grantTypes: ['authorization_code', 'client_credentials'] } });
  expect(created.statusCode, created.body).toBe(201);
  clientId = created.data.clientId;
  clientSecret = created.data.clientSecret;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const a = t.app.server.address();
  port = typeof a === 'object' && a ? a.port : 0;
}, 120_000);
afterAll(async () => { await t?.close(); });

/** A raw connection to the server: what it received, and how long (ms) until the server closed it (Infinity past `ms`). */
async function rawClient(): Promise<{ socket: Socket; data(): string; closedWithin(ms: number): Promise<number> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => { data += d; });
  socket.on('error', () => { /* a reset by the server counts as a close */ });
  const t0 = Date.now();
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return {
    socket,
    data: () => data,
    closedWithin: async (ms) => {
      const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), ms))]);
      socket.destroy();
      return after;
    },
  };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function clientCount(): Promise<number> {
  const res = await call(t.app, { method: 'GET', url: '/auth/admin/oauth-clients?tenantId=default', token: adminKey });
  expect(res.statusCode, res.body).toBe(200);
  return res.data.total;
}

describe(`OpenID Provider and admin client routes against a hostile client (${BACKEND})`, () => {
  it('a 2 MB token request → 413, no stack, no 500', async () => {
    const res = await call(t.app, { method: 'POST', url: `${ISSUER_PATH}/token`, headers: { ...FORM, authorization: basic(clientId, clientSecret) }, payload: `grant_type=client_credentials&x=${'a'.repeat(2 * 1024 * 1024)}` });
    expect(res.statusCode).toBe(413);
    noStack(res.body);
  });

  it('token requests with a JSON body, a malformed form, no grant_type or an unknown grant → 400 in OAuth\'s error shape', async () => {
    const auth = { authorization: basic(clientId, clientSecret) };
    const cases = [
      { headers: { ...auth, 'content-type': 'application/json' }, payload: '{"grant_type":"client_credentials"' },
      { headers: { ...auth, 'content-type': 'text/plain' }, payload: 'grant_type=client_credentials' },
      { headers: { ...auth, ...FORM }, payload: '%E0%A4%A=&&&=' },
      { headers: { ...auth, ...FORM }, payload: '' },
      { headers: { ...auth, ...FORM }, payload: 'grant_type=password&username=a&password=b' },
      { headers: { ...auth, ...FORM }, payload: 'grant_type=client_credentials&grant_type=authorization_code' },
    ];
    for (const c of cases) {
      const res = await call(t.app, { method: 'POST', url: `${ISSUER_PATH}/token`, ...c });
      expect(res.statusCode, `${c.headers['content-type']} ${c.payload}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, res.body).toBeLessThan(500);
      expect(typeof res.data?.error, res.body).toBe('string');
      noStack(res.body);
    }
  });

  it('a guessed client secret → 401 invalid_client, and the right one still works', async () => {
    const wrong = await call(t.app, { method: 'POST', url: `${ISSUER_PATH}/token`, headers: { ...FORM, authorization: basic(clientId, `${clientSecret.slice(0, -1)}x`) }, payload: 'grant_type=client_credentials' });
    expect(wrong.statusCode, wrong.body).toBe(401);
    expect(wrong.data.error).toBe('invalid_client');
    const unknown = await call(t.app, { method: 'POST', url: `${ISSUER_PATH}/token`, headers: { ...FORM, authorization: basic('no-such-client', 'x') }, payload: 'grant_type=client_credentials' });
    expect(unknown.statusCode, unknown.body).toBe(401);
    expect(unknown.data.error).toBe('invalid_client');
  });

  it('an unknown issuer, and hostile tenant slugs, → 404 in the error shape; the discovery of a real one still answers', async () => {
    for (const slug of ['no-such-tenant', '..%2F..%2Fauth', '%00', 'a'.repeat(300), 'DEFAULT']) {
      const res = await call(t.app, { method: 'GET', url: `/oidc/${slug}/.well-known/openid-configuration` });
      expect(res.statusCode, `${slug}: ${res.body}`).toBe(404);
      expect(res.data, slug).toMatchObject({ error: 'not_found', message: expect.any(String), requestId: expect.any(String) });
      noStack(res.body);
    }
    const ok = await call(t.app, { method: 'GET', url: `${ISSUER_PATH}/.well-known/openid-configuration` });
    expect(ok.statusCode).toBe(200);
  });

  it('an authorization request without PKCE and an 8 KB state goes back to the registered redirect URI with an error, never to a sign-in page', async () => {
    const res = await call(t.app, { method: 'GET', url: `${ISSUER_PATH}/auth?client_id=${clientId}&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=${'s'.repeat(8 * 1024)}` });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(303);
    const to = new URL(String(res.headers.location));
    expect(`${to.origin}${to.pathname}`).toBe('https://rp.example/cb');
    expect(to.searchParams.get('error')).toBe('invalid_request');
    noStack(res.body);
  });

  it('an authorization request over HTTP with a 64 KB query string → 431 in the error shape (Node\'s header bound), the connection closed', async () => {
    const c = await rawClient();
    c.socket.write(`GET ${ISSUER_PATH}/auth?client_id=${clientId}&state=${'s'.repeat(64 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.closedWithin(5000);
    expect(c.data()).toMatch(/^HTTP\/1\.1 431/);
    expect(c.data()).toMatch(/"error":"header_too_large"/);
  });

  it('a token request whose body is dripped a byte at a time → 408 and the connection closed at the request bound', async () => {
    const c = await rawClient();
    c.socket.write(`POST ${ISSUER_PATH}/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: ${basic(clientId, clientSecret)}\r\nContent-Length: 1000\r\n\r\n`);
    const timer = setInterval(() => { if (c.socket.writable) c.socket.write('a'); }, 50);
    const ms = await c.closedWithin(5000);
    clearInterval(timer);
    expect(ms, 'cut off at the 800 ms request bound').toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(2500);
    expect(c.data()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('admin client routes: oversized, malformed and hostile bodies → 4xx in DESIGN §5\'s shape, nothing created', async () => {
    const before = await clientCount();
    const bad: { payload?: string; json?: unknown; headers?: Record<string, string> }[] = [
      { json: { tenantId: 'default', name: 'x'.repeat(10_000), type: 'public', scopes: ['openid'], redirectUris: ['https://rp.example/cb'] } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid'], redirectUris: Array.from({ length: 10_000 }, (_, i) => `https://rp.example/${i}`) } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid'], redirectUris: ['javascript:alert(1)'] } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid'], redirectUris: ['https://rp.example/cb#frag'] } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid'], redirectUris: 'https://rp.example/cb' } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid'], redirectUris: ['https://rp.example/cb'], __proto__: { admin: true }, constructor: { prototype: { polluted: true } } } },
      { payload: `{"tenantId":"default","name":"x","redirectUris":${'['.repeat(5000)}${']'.repeat(5000)}}`, headers: { 'content-type': 'application/json' } },
      { payload: '{"tenantId":"default",', headers: { 'content-type': 'application/json' } },
      { payload: `{"tenantId":"default","name":"${'x'.repeat(2 * 1024 * 1024)}"}`, headers: { 'content-type': 'application/json' } },
      { json: { tenantId: 'no-such-tenant', name: 'x', type: 'public', scopes: ['openid'], redirectUris: ['https://rp.example/cb'] } },
      { json: { tenantId: 'default', name: 'x', type: 'public', scopes: ['openid', 'admin:all'], redirectUris: ['https://rp.example/cb'] } },
    ];
    for (const b of bad) {
      const res = await call(t.app, { method: 'POST', url: '/auth/admin/oauth-clients', token: adminKey, ...b });
      const what = JSON.stringify(b.json ?? b.payload).slice(0, 80);
      expect(res.statusCode, `${what}: ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, what).toBeLessThan(500);
      expect(res.data, what).toMatchObject({ error: expect.any(String), message: expect.any(String) });
      noStack(res.body);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await clientCount()).toBe(before);
  });
});
