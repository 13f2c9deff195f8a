import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { parts, raiseLimits } from '../../helpers/identity.js';
import { user } from '../orgs/org-helpers.js';
import type { Tenant } from '../../../src/modules/tenants/schemas.js';

/**
 * The answers the hot path gives from memory, without a promise (`validateCached` for POST /api-key/validate,
 * `profileCached` for GET /user), against the full path they short-cut, on the real stores of this backend:
 * whenever the shortcut answers, it answers what the full path answers; when it cannot tell (nothing cached,
 * a revocation or a write since), it says undefined and the route takes the full path.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
});
afterAll(async () => { await t?.close(); });

const tenantOf = async (id: string): Promise<Tenant> => (await t.deps.tenants.byId(id))!;

describe('POST /api-key/validate: validateCached agrees with validate', () => {
  it('a live key, another tenant\'s request, a revoked key, a malformed key', async () => {
    const keys = t.deps.services.apiKeys;
    const u = await user(t, { prefix: 'validate-agree' });
    const created = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: 'k', scopes: ['*'] } });
    expect(created.statusCode, created.body).toBe(201);
    const key = created.data.apiKey as string;
    const own = await tenantOf(parts(u.accessToken).payload.tid as string);
    const other = await t.deps.tenants.create({ slug: `other-${Date.now()}`, name: 'Other' });

    expect(keys.validateCached(own, key), 'nothing cached before the first validation').toBeUndefined();
    const slow = await keys.validate(own, key);
    expect(slow).toMatchObject({ valid: true, userId: u.userId, tenantId: own.id });
    expect(keys.validateCached(own, key)).toEqual(slow);
    expect(keys.validateCached(other, key)).toEqual(await keys.validate(other, key));
    expect(keys.validateCached(other, key)).toEqual({ valid: false });

    const malformed = 'ck_not-a-key';
    expect(keys.validateCached(own, malformed), 'not shaped like a key: the full path answers').toBeUndefined();
    expect(await keys.validate(own, malformed)).toEqual({ valid: false });

    const del = await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: u.accessToken });
    expect(del.statusCode, del.body).toBe(204);
    expect(keys.validateCached(own, key), 'revoked: the cache no longer answers').toBeUndefined();
    expect(await keys.validate(own, key)).toEqual({ valid: false });
    // And the route, which takes whichever path applies, says the same.
    const res = await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: key } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toEqual({ valid: false });
  });
});

describe('GET /user: profileCached agrees with profile', () => {
  it('the user, another tenant\'s id, and nothing after a write', async () => {
    const users = t.deps.services.users;
    const u = await user(t, { prefix: 'profile-agree' });
    const tenantId = parts(u.accessToken).payload.tid as string;
    const other = await t.deps.tenants.create({ slug: `other-p-${Date.now()}`, name: 'Other' });

    const slow = await users.profile(tenantId, u.userId);
    expect(slow).toMatchObject({ id: u.userId, tenantId });
    expect(users.profileCached(tenantId, u.userId)).toBe(slow);
    expect(users.profileCached(other.id, u.userId)).toBeNull();
    expect(await users.profile(other.id, u.userId)).toBeNull();

    // A write announces itself: the cache stops answering, and the full path reads the new row.
    await users.setDisabled(tenantId, u.userId, true);
    expect(users.profileCached(tenantId, u.userId)).toBeUndefined();
    expect(await users.profile(tenantId, u.userId)).toMatchObject({ id: u.userId, disabled: true });
    const res = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(res.statusCode, res.body).toBe(401);
  });

  it('the route answers the same with a warm and a cold profile', async () => {
    const u = await user(t, { prefix: 'profile-route' });
    const first = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(first.statusCode, first.body).toBe(200);
    const tenantId = parts(u.accessToken).payload.tid as string;
    expect(t.deps.services.users.profileCached(tenantId, u.userId), 'the first read filled the cache').toBeDefined();
    const warm = await call(t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(warm.statusCode, warm.body).toBe(200);
    expect(warm.data).toEqual(first.data);
  });
});
