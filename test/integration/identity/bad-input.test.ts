import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { count, getUser, newEmail, PASSWORD, raiseLimits, refresh, register, type SignedIn } from '../../helpers/identity.js';

// Bad input on every identity route → 400 (or 413/415 for the body itself) in the error shape, with a
// clear message, and nothing created or changed (VAL-01, VAL-02 on register and login).

let t: TestApp;
let s: SignedIn;
let snapshot: { users: number; refresh: number; argon2: number };

const argon2Runs = () => { const h = t.deps.services.hasher.stats(); return h.hashes + h.verifies + h.dummyVerifies; };
const take = async () => ({ users: await count(t, 'users'), refresh: await count(t, 'refresh_tokens'), argon2: argon2Runs() });

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  s = await register(t.app);
});
afterAll(async () => { await t?.close(); });
beforeEach(async () => { snapshot = await take(); });

async function unchanged() {
  expect(await take()).toEqual(snapshot);
  expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
}

function expectError(res: { statusCode: number; data: any; body: string }, status: number, what: string) {
  expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
  expect(res.data, what).toMatchObject({ error: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
  expect(res.data.message.length, what).toBeGreaterThan(10);
  expect(res.body, what).not.toMatch(/at .*\.ts:\d+|stack|SELECT|node_modules/);
}

const raw = (url: string, payload: string | Buffer, contentType = 'application/json', headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url, payload, headers: { 'content-type': contentType, ...headers } });

const long = 'a'.repeat(10_000);
const badEmails = ['not-an-email', 'a@', '@b.example', 'a b@c.example', 'a@b.example\r\nBcc: x@y.example', `${long}@example.com`, ''];

describe('POST /auth/register', () => {
  const cases: [string, unknown][] = [
    ['empty object', {}],
    ['missing password', { email: newEmail() }],
    ['missing email', { password: PASSWORD }],
    ['email as number', { email: 42, password: PASSWORD }],
    ['email as object', { email: { $ne: null }, password: PASSWORD }],
    ['email as array', { email: [newEmail()], password: PASSWORD }],
    ['email null', { email: null, password: PASSWORD }],
    ['password as number', { email: newEmail(), password: 12345678 }],
    ['password as object', { email: newEmail(), password: { $gt: '' } }],
    ['password too long', { email: newEmail(), password: `${'x1y2z3w4'.repeat(32)}a` }],
    ['huge password', { email: newEmail(), password: long }],
    ['password too short', { email: newEmail(), password: 'short' }],
    ['name too long', { email: newEmail(), password: PASSWORD, name: long }],
    ['name as number', { email: newEmail(), password: PASSWORD, name: 5 }],
    ['unknown field', { email: newEmail(), password: PASSWORD, isAdmin: true }],
    ['privileged field', { email: newEmail(), password: PASSWORD, emailVerified: true }],
    ['array body', [{ email: newEmail(), password: PASSWORD }]],
    ['string body', 'hello'],
    ['null body', null],
    ...badEmails.map((e): [string, unknown] => [`invalid email ${JSON.stringify(e.slice(0, 30))}`, { email: e, password: PASSWORD }]),
  ];
  for (const [what, json] of cases) {
    it(`${what} → 400, nothing created`, async () => {
      const res = await call(t.app, { method: 'POST', url: '/auth/register', json });
      expectError(res, 400, what);
      expect(res.data.error).toBe('validation_failed');
      await unchanged();
    });
  }

  it('names the offending field in details', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: 'nope', password: PASSWORD } });
    expect(res.data.details[0].path).toMatch(/email/);
    expect(res.data.message).toMatch(/email/);
  });
});

describe('POST /auth/login', () => {
  const cases: [string, unknown][] = [
    ['empty object', {}],
    ['missing password', { email: s?.email ?? 'x@example.com' }],
    ['missing email', { password: PASSWORD }],
    ['operator injection', { email: { $ne: null }, password: { $gt: '' } }],
    ['email as number', { email: 1, password: PASSWORD }],
    ['password as array', { email: 'a@example.com', password: [PASSWORD] }],
    ['password as boolean', { email: 'a@example.com', password: true }],
    ['empty password', { email: 'a@example.com', password: '' }],
    ['huge password', { email: 'a@example.com', password: 'p'.repeat(100_000) }],
    ['unknown field', { email: 'a@example.com', password: PASSWORD, remember: true }],
    ...badEmails.map((e): [string, unknown] => [`invalid email ${JSON.stringify(e.slice(0, 30))}`, { email: e, password: PASSWORD }]),
  ];
  for (const [what, json] of cases) {
    it(`${what} → 400 with no argon2 run and no session`, async () => {
      const res = await call(t.app, { method: 'POST', url: '/auth/login', json });
      expectError(res, 400, what);
      await unchanged();
    });
  }
});

describe('VAL-01 malformed bodies on register and login', () => {
  for (const url of ['/auth/register', '/auth/login']) {
    it(`${url}: truncated JSON → 400 invalid_json; text/plain and XML → 415; 10 MB → 413`, async () => {
      const body = JSON.stringify({ email: newEmail(), password: PASSWORD });
      const trunc = await raw(url, body.slice(0, -3));
      expectError(trunc, 400, 'truncated');
      expect(trunc.data.error).toBe('invalid_json');
      for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
        const res = await raw(url, body, type);
        expectError(res, 415, type);
      }
      const huge = await raw(url, JSON.stringify({ email: newEmail(), password: 'x'.repeat(10 * 1024 * 1024) }));
      expectError(huge, 413, '10 MB');
      await unchanged();
    });

    it(`${url}: deep nesting, NUL characters and invalid UTF-8 → 400`, async () => {
      expectError(await raw(url, `${'['.repeat(100_000)}${']'.repeat(100_000)}`), 400, 'deep');
      expectError(await raw(url, `{"email":${'{"a":'.repeat(500)}1${'}'.repeat(500)},"password":"x"}`), 400, 'deep object');
      expectError(await call(t.app, { method: 'POST', url, json: { email: `a\u0000@example.com`, password: PASSWORD } }), 400, 'NUL in email');
      expectError(await call(t.app, { method: 'POST', url, json: { email: newEmail(), password: `abc\u0000defghij` } }), 400, 'NUL in password');
      const invalidUtf8 = Buffer.concat([Buffer.from('{"email":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`@example.com","password":"${PASSWORD}"}`)]);
      expectError(await raw(url, invalidUtf8), 400, 'invalid UTF-8');
      expectError(await raw(url, ''), 400, 'empty body');
      await unchanged();
    });
  }
});

describe('VAL-02 type confusion, prototype pollution, duplicate keys', () => {
  it('__proto__ and constructor.prototype keys → 400, and no later response grows the property', async () => {
    for (const payload of [
      `{"email":"${newEmail()}","password":"${PASSWORD}","__proto__":{"isAdmin":true}}`,
      `{"email":"${newEmail()}","password":"${PASSWORD}","constructor":{"prototype":{"x":1}}}`,
    ]) {
      const res = await raw('/auth/register', payload);
      expectError(res, 400, payload);
    }
    await unchanged();
    const me = await getUser(t.app, s.accessToken);
    expect(me.body).not.toMatch(/isAdmin|"x":1/);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('a duplicate key: the last value is the one validated and used', async () => {
    const first = newEmail('first');
    const second = newEmail('second');
    const res = await raw('/auth/register', `{"email":"${first}","email":"${second}","password":"${PASSWORD}"}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.user.email).toBe(second);
    const bad = await raw('/auth/register', `{"email":"${newEmail()}","email":"not-an-email","password":"${PASSWORD}"}`);
    expectError(bad, 400, 'last value invalid');
  });
});

describe('POST /auth/refresh', () => {
  const cases: [string, unknown][] = [
    ['refreshToken as number', { refreshToken: 5 }],
    ['refreshToken as object', { refreshToken: { $ne: null } }],
    ['refreshToken as array', { refreshToken: ['a.b'] }],
    ['empty refreshToken', { refreshToken: '' }],
    ['huge refreshToken', { refreshToken: `${'a'.repeat(36)}.${long}` }],
    ['unknown field', { refreshToken: 'a.b', extra: 1 }],
    ['array body', ['x']],
  ];
  for (const [what, json] of cases) {
    it(`${what} → 400, nothing rotated`, async () => {
      const res = await call(t.app, { method: 'POST', url: '/auth/refresh', json });
      expectError(res, 400, what);
      await unchanged();
      expect(await count(t, 'refresh_tokens')).toBe(snapshot.refresh);
    });
  }

  it('no token at all → 401 unauthorized with a message saying what to send', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/refresh', json: {} });
    expectError(res, 401, 'none');
    expect(res.data.message).toMatch(/refreshToken/);
  });

  it('malformed JSON → 400 invalid_json; the real token still works afterwards', async () => {
    expectError(await raw('/auth/refresh', `{"refreshToken":"${s.refreshToken}"`), 400, 'truncated');
    await unchanged();
    const ok = await refresh(t.app, s.refreshToken);
    expect(ok.statusCode).toBe(200);
    s = { ...s, refreshToken: ok.data.tokens.refreshToken, accessToken: ok.data.tokens.accessToken };
  });
});

describe('session routes', () => {
  it('POST /auth/logout with a malformed body → 400 and the session lives', async () => {
    expectError(await raw('/auth/logout', '{"a":', 'application/json', { authorization: `Bearer ${s.accessToken}` }), 400, 'logout truncated');
    expectError(await raw('/auth/logout', 'x', 'text/plain', { authorization: `Bearer ${s.accessToken}` }), 415, 'logout text');
    await unchanged();
  });

  it('DELETE /auth/sessions/{id} with a non-uuid → 400; with a malformed body → 400; nothing revoked', async () => {
    for (const id of ['not-a-uuid', '1', "'%20OR%201=1", 'a'.repeat(200)]) {
      const res = await call(t.app, { method: 'DELETE', url: `/auth/sessions/${id}`, token: s.accessToken });
      expectError(res, 400, id);
    }
    expectError(await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: s.accessToken, payload: '{"x":', headers: { 'content-type': 'application/json' } }), 400, 'revoke-all truncated');
    await unchanged();
  });

  it('two different credentials on one request → 400 ambiguous_credentials on every authenticated route', async () => {
    for (const [method, url] of [['GET', '/auth/user'], ['GET', '/auth/sessions'], ['DELETE', '/auth/sessions'], ['POST', '/auth/logout']] as const) {
      const res = await call(t.app, { method, url, headers: { authorization: `Bearer ${s.accessToken}`, 'x-api-key': 'ck_something_else' } });
      expectError(res, 400, `${method} ${url}`);
      expect(res.data.error).toBe('ambiguous_credentials');
    }
    await unchanged();
  });

  it('a malformed Authorization header → 401 invalid_token with a message naming the format', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', `Token ${s.accessToken}`]) {
      const res = await call(t.app, { method: 'GET', url: '/auth/sessions', headers: { authorization } });
      expectError(res, 401, authorization);
    }
    await unchanged();
  });
});
