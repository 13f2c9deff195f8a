import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { KEY_CACHE_TTL_MS } from '../../../src/modules/api-keys/verify.js';

/**
 * SECURITY KEY-03 / SES-03 on two app instances sharing Postgres and the key–value store: a key that
 * instance B has validated (and cached) stops working on B as soon as A revokes it, regenerates it, or
 * disables its user — the revocation travels through the store's pub/sub.
 */
let t: TestApp;
let b: FastifyInstance;
let adminKey: string;
const PASSWORD = 'correct horse battery staple';
let n = 0;

async function register() {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `multi${++n}@example.com`, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  return { userId: res.data.user.id as string, token: res.data.tokens.accessToken as string, apiKey: res.data.apiKey as string };
}

const userVia = (app: FastifyInstance, key: string) => call(app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': key } });

/** Polls until `fn` answers `status` or `withinMs` has passed; returns the last status seen. */
async function statusWithin(fn: () => Promise<{ statusCode: number }>, status: number, withinMs = 1000): Promise<number> {
  const deadline = Date.now() + withinMs;
  let last = (await fn()).statusCode;
  while (last !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    last = (await fn()).statusCode;
  }
  return last;
}

beforeAll(async () => {
  t = await createTestApp();
  b = (await t.second()).app;
  adminKey = (await t.deps.adminKeys.create({ name: 'multi-instance', expiresInDays: 30 })).key;
});
afterAll(async () => { await t?.close(); });

describe('revocation reaches every instance at once', () => {
  it('DELETE on A → the key is refused on B within 1 s, and B\'s validate agrees', async () => {
    const u = await register();
    const created = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.token, json: { name: 'shared', scopes: ['*'] } });
    const key = created.data.apiKey;
    expect((await userVia(b, key)).statusCode).toBe(200);
    expect((await userVia(b, key)).statusCode).toBe(200); // served from B's cache now
    expect((await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: u.token })).statusCode).toBe(204);
    expect(await statusWithin(() => userVia(b, key), 401)).toBe(401);
    expect((await call(b, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: key } })).data).toEqual({ valid: false });
  });

  it('regenerate on A → the old default key is refused on B within 1 s; the new one works on B', async () => {
    const u = await register();
    expect((await userVia(b, u.apiKey)).statusCode).toBe(200);
    const regen = await call(t.app, { method: 'POST', url: '/auth/user/api-key/regenerate', token: u.token });
    expect(regen.statusCode, regen.body).toBe(200);
    expect(await statusWithin(() => userVia(b, u.apiKey), 401)).toBe(401);
    expect((await userVia(b, regen.data.apiKey)).statusCode).toBe(200);
  });

  it('an admin disabling the user on A → their key and access token are refused on B within 1 s; enabling restores neither', async () => {
    const u = await register();
    expect((await userVia(b, u.apiKey)).statusCode).toBe(200);
    expect((await call(b, { method: 'GET', url: '/auth/user', token: u.token })).statusCode).toBe(200);
    const off = await call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, token: adminKey, json: { disabled: true } });
    expect(off.statusCode, off.body).toBe(200);
    expect(await statusWithin(() => userVia(b, u.apiKey), 401)).toBe(401);
    expect((await call(b, { method: 'GET', url: '/auth/user', token: u.token })).statusCode).toBe(401);
    expect((await call(b, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: u.apiKey } })).data).toEqual({ valid: false });
    const on = await call(t.app, { method: 'PATCH', url: `/auth/admin/users/${u.userId}`, token: adminKey, json: { disabled: false } });
    expect(on.statusCode).toBe(200);
    // Disabling revoked the keys (issue 24), as it ended the sessions: neither comes back.
    expect((await userVia(b, u.apiKey)).statusCode).toBe(401);
    expect((await userVia(t.app, u.apiKey)).statusCode).toBe(401);
    expect((await call(b, { method: 'GET', url: '/auth/user', token: u.token })).statusCode).toBe(401);
  });

  it(`without any message, a validation is served from memory for at most ${KEY_CACHE_TTL_MS / 1000} s`, async () => {
    const u = await register();
    expect((await userVia(b, u.apiKey)).statusCode).toBe(200);
    // Revoke around the application (no pub/sub), as if the message were lost.
    await t.stores.sql.ownerQuery('UPDATE api_keys SET revoked_at = now() WHERE user_id = $1', [u.userId]);
    await t.stores.sql.ownerQuery('DELETE FROM api_key_lookup WHERE key_id IN (SELECT id FROM api_keys WHERE user_id = $1)', [u.userId]);
    expect((await userVia(t.app, u.apiKey)).statusCode).toBe(401); // A never cached it: it reads the database
    t.clock.advance(KEY_CACHE_TTL_MS + 1);
    expect((await userVia(b, u.apiKey)).statusCode).toBe(401);
  });
});
