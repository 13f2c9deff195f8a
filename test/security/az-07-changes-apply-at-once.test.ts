import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { parts, raiseLimits } from '../helpers/identity.js';
import { eventually } from '../helpers/eventually.js';
import { addPolicy, authorize, createOrg, join, user } from '../integration/orgs/org-helpers.js';
import { AUTHZ_CACHE_MAX_AGE_MS } from '../../src/modules/authz/cache.js';

/**
 * SECURITY AZ-07: decisions read current memberships, roles and policies (not the token's role claims),
 * and a change made on one instance applies on the others as soon as the invalidation arrives.
 */
let t: TestApp;
let b: FastifyInstance; // a second instance on the same database and key space
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  b = (await t.second()).app;
});
afterAll(async () => { await t?.close(); });

async function orgWithAdmin() {
  const owner = await user(t, { prefix: 'owner' });
  const admin = await user(t, { prefix: 'admin' });
  const x = await user(t, { prefix: 'x' });
  const org = await createOrg(t.app, owner.accessToken);
  await join(t.app, owner.accessToken, org.id, admin, ['admin']);
  await join(t.app, owner.accessToken, org.id, x, ['member']);
  // The admin's token carries roles:["admin"] for the org.
  const sw = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/switch`, token: admin.accessToken });
  expect(parts(sw.data.tokens.accessToken).payload.roles).toEqual(['admin']);
  return { owner, admin, adminToken: sw.data.tokens.accessToken as string, x, org };
}

describe('AZ-07 permission changes apply at once', () => {
  it('a demoted admin is refused at once on this instance and, after the invalidation, on the other', async () => {
    const { owner, admin, adminToken, x, org } = await orgWithAdmin();
    const can = (app: FastifyInstance) => async () => (await authorize(app, adminToken, { action: 'members:write' })).data.allowed as boolean;
    // Warm both instances' caches.
    expect(await can(t.app)()).toBe(true);
    expect(await can(b)()).toBe(true);

    const demote = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${admin.userId}`, token: owner.accessToken, json: { roles: ['member'] } });
    expect(demote.statusCode).toBe(200);
    expect(await can(t.app)()).toBe(false);
    const patch = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${x.userId}`, token: adminToken, json: { attributes: { a: 1 } } });
    expect(patch.statusCode).toBe(403);
    expect(await eventually(can(b), false)).toBe(false);
    expect((await call(b, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${x.userId}`, token: adminToken, json: { attributes: { a: 1 } } })).statusCode).toBe(403);
  });

  it('ids in either case reach the same cache entry: a change through an upper-case path applies at once', async () => {
    const { owner, admin, adminToken, org } = await orgWithAdmin();
    const can = async (orgId: string) => (await authorize(t.app, adminToken, { action: 'members:write', orgId })).data.allowed as boolean;
    expect(await can(org.id)).toBe(true);
    expect(await can(org.id.toUpperCase())).toBe(true);
    const res = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id.toUpperCase()}/members/${admin.userId.toUpperCase()}`, token: owner.accessToken, json: { roles: ['member'] } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await can(org.id)).toBe(false);
    expect(await can(org.id.toUpperCase())).toBe(false);
  });

  it('a removed member is refused at once, on both instances', async () => {
    const { owner, admin, adminToken, org } = await orgWithAdmin();
    const can = (app: FastifyInstance) => async () => (await authorize(app, adminToken, { action: 'org:read' })).data.allowed as boolean;
    expect(await can(t.app)()).toBe(true);
    expect(await can(b)()).toBe(true);
    await call(b, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${admin.userId}`, token: owner.accessToken });
    expect(await can(b)()).toBe(false);
    expect(await eventually(can(t.app), false)).toBe(false);
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/members`, token: adminToken })).statusCode).toBe(404);
  });

  it('a new deny policy and a changed custom role reach the other instance', async () => {
    const { owner, org, x } = await orgWithAdmin();
    const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'viewer', permissions: ['docs:read'] } });
    await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${x.userId}`, token: owner.accessToken, json: { roles: ['viewer'] } });
    const can = (app: FastifyInstance, action: string) => async () => (await authorize(app, x.accessToken, { action, orgId: org.id })).data.allowed as boolean;
    expect(await can(b, 'docs:read')()).toBe(true);
    await addPolicy(t.app, owner.accessToken, org.id, { name: 'freeze', effect: 'deny', actions: ['docs:read'] });
    expect(await can(t.app, 'docs:read')()).toBe(false);
    expect(await eventually(can(b, 'docs:read'), false)).toBe(false);

    expect(await can(b, 'docs:list')()).toBe(false);
    await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/roles/${role.data.id}`, token: owner.accessToken, json: { permissions: ['docs:list'] } });
    expect(await eventually(can(b, 'docs:list'), true)).toBe(true);
  });

  it('without an invalidation, a cached decision lives at most the documented bound', async () => {
    const { org, x } = await orgWithAdmin();
    const ask = async () => (await authorize(t.app, x.accessToken, { action: 'org:read', orgId: org.id })).data.allowed as boolean;
    expect(await ask()).toBe(true);
    // A change behind the service's back (no invalidation is published).
    await t.stores.sql.ownerQuery('DELETE FROM org_members WHERE org_id = $1 AND user_id = $2', [org.id, x.userId]);
    expect(await ask()).toBe(true);
    t.clock.advance(AUTHZ_CACHE_MAX_AGE_MS + 1);
    const fresh = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: x.email, password: x.password } });
    expect((await authorize(t.app, fresh.data.tokens.accessToken, { action: 'org:read', orgId: org.id })).data.allowed).toBe(false);
  });
});
