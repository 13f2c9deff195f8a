import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

/**
 * SECURITY KEY-04: how a key may be presented. Only `Authorization: Bearer ck_…` and `X-API-Key: ck_…`;
 * never the query string; one credential per request; an altered key fails like any unknown key.
 */
let t: TestApp;
let key: string;
let otherKey: string;
let accessToken: string;

beforeAll(async () => {
  t = await createTestApp();
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: 'presenter@example.com', password: 'correct horse battery staple' } });
  expect(res.statusCode, res.body).toBe(200);
  key = res.data.apiKey;
  accessToken = res.data.tokens.accessToken;
  otherKey = (await call(t.app, { method: 'POST', url: '/auth/api-keys', token: accessToken, json: { name: 'second', scopes: ['*'] } })).data.apiKey;
});
afterAll(async () => { await t?.close(); });

const getUser = (o: { url?: string; headers?: Record<string, string> }) => call(t.app, { method: 'GET', url: o.url ?? '/auth/user', headers: o.headers });
const withoutRequestId = (b: Record<string, unknown>) => { const { requestId: _r, ...rest } = b; return rest; };

describe('KEY-04: how keys may be presented', () => {
  it('accepts Authorization: Bearer ck_… and X-API-Key: ck_… (any case of the header names and scheme)', async () => {
    const variants: Record<string, string>[] = [{ authorization: `Bearer ${key}` }, { 'x-api-key': key }, { Authorization: `bearer ${key}` }, { 'X-API-KEY': key }];
    for (const headers of variants) {
      expect((await getUser({ headers })).statusCode, JSON.stringify(Object.keys(headers))).toBe(200);
    }
  });

  it('never reads a key or token from the query string', async () => {
    for (const url of [`/auth/user?api_key=${key}`, `/auth/user?apiKey=${key}`, `/auth/user?access_token=${accessToken}`, `/auth/user?key=${key}`]) {
      const res = await getUser({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.data.error).toBe('unauthorized');
    }
  });

  it('two credentials → 400 ambiguous_credentials, whichever kinds, even the same key in both headers', async () => {
    for (const headers of [
      { authorization: `Bearer ${key}`, 'x-api-key': otherKey },
      { authorization: `Bearer ${key}`, 'x-api-key': key },
      { authorization: `Bearer ${accessToken}`, 'x-api-key': key },
    ]) {
      const res = await getUser({ headers });
      expect(res.statusCode).toBe(400);
      expect(res.data.error).toBe('ambiguous_credentials');
    }
  });

  it('an altered key (one character, truncated, extended, another key\'s prefix) → 401 with the same body every time', async () => {
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const variants = [flip(key, key.length - 1), flip(key, 3), flip(key, 20), key.slice(0, -1), `${key}A`, otherKey.slice(0, 11) + key.slice(11)];
    const bodies = new Set<string>();
    for (const v of variants) {
      for (const headers of [{ authorization: `Bearer ${v}` }, { 'x-api-key': v }] as Record<string, string>[]) {
        const res = await getUser({ headers });
        expect(res.statusCode, v).toBe(401);
        bodies.add(JSON.stringify(withoutRequestId(res.data)));
      }
    }
    expect([...bodies]).toEqual([JSON.stringify({ error: 'invalid_token', message: 'The API key is invalid, expired or revoked.' })]);
  });

  it('the ck_ prefix changed to ak_ or upper case → 401, never accepted as another kind of credential', async () => {
    for (const v of [`ak_${key.slice(3)}`, `CK_${key.slice(3)}`, key.toUpperCase()]) {
      for (const headers of [{ authorization: `Bearer ${v}` }, { 'x-api-key': v }] as Record<string, string>[]) {
        const res = await getUser({ headers });
        expect(res.statusCode, `${Object.keys(headers)[0]}: ${v.slice(0, 5)}`).toBe(401);
        expect(res.data.error).toBe('invalid_token');
      }
    }
  });

  it('the key never appears in a log line', async () => {
    await getUser({ url: `/auth/user?api_key=${key}` });
    await getUser({ headers: { 'x-api-key': key } });
    const text = t.logs.join('\n');
    expect(text).not.toContain(key.slice(3));
    expect(text).not.toContain(otherKey.slice(3));
  });
});
