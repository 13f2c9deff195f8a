import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits, register } from '../helpers/identity.js';

/**
 * Issue 24 (SES-03, KEY-03): disabling a user ends every session *and every API key* of the user. The keys
 * are revoked in the transaction that disables the user (not merely suspended while the flag is set), and
 * dropped from every instance's key cache, so re-enabling the user brings none of them back.
 */
let t: TestApp;
let b: FastifyInstance; // a second instance on the same database and key space
let admin: string;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  b = (await t.second()).app;
  admin = (await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 90 })).key;
});
afterAll(async () => { await t?.close(); });

const userVia = (app: FastifyInstance, key: string) => call(app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': key } });
const setDisabled = (app: FastifyInstance, userId: string, disabled: boolean) =>
  call(app, { method: 'PATCH', url: `/auth/admin/users/${userId}`, token: admin, json: { disabled } });

/** Polls until `fn` answers `status` or 1 s has passed (pub/sub reaches the other instance asynchronously). */
async function statusWithin(fn: () => Promise<{ statusCode: number }>, status: number, withinMs = 1000): Promise<number> {
  const deadline = Date.now() + withinMs;
  let last = (await fn()).statusCode;
  while (last !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    last = (await fn()).statusCode;
  }
  return last;
}

describe('KEY-07 disabling a user revokes their API keys', () => {
  it('keys cached on both instances are refused at once, stay revoked after re-enabling, and the user can make new ones', async () => {
    const u = await register(t.app);
    const defaultKey = u.body.apiKey as string;
    const made = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: 'ci', scopes: ['*'] } });
    expect(made.statusCode, made.body).toBe(201);
    const keys = [defaultKey, made.data.apiKey as string];
    for (const key of keys) for (const app of [t.app, b]) {
      expect((await userVia(app, key)).statusCode).toBe(200);
      expect((await userVia(app, key)).statusCode).toBe(200); // now served from the instance's cache
    }

    expect((await setDisabled(t.app, u.userId, true)).statusCode).toBe(200);
    for (const key of keys) {
      expect((await userVia(t.app, key)).statusCode).toBe(401);
      expect(await statusWithin(() => userVia(b, key), 401)).toBe(401);
    }
    const live = await t.stores.sql.ownerQuery<{ n: string }>('SELECT count(*)::text AS n FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL', [u.userId]);
    expect(Number(live.rows[0]!.n)).toBe(0);

    expect((await setDisabled(b, u.userId, false)).statusCode).toBe(200);
    for (const key of keys) for (const app of [t.app, b]) {
      expect((await userVia(app, key)).statusCode, 'a revoked key stays revoked').toBe(401);
      expect((await call(app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: key } })).data).toEqual({ valid: false });
    }
    // The account itself works again: a new sign-in, and a new key from it.
    const again = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: u.password } });
    expect(again.statusCode, again.body).toBe(200);
    const fresh = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: again.data.tokens.accessToken, json: { name: 'new', scopes: ['*'] } });
    expect(fresh.statusCode, fresh.body).toBe(201);
    expect((await userVia(b, fresh.data.apiKey)).statusCode).toBe(200);
  });

  it('enabling a user who is not disabled revokes nothing', async () => {
    const u = await register(t.app);
    const key = u.body.apiKey as string;
    expect((await setDisabled(t.app, u.userId, false)).statusCode).toBe(200);
    expect((await userVia(t.app, key)).statusCode).toBe(200);
  });
});
