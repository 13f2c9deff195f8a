import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { raiseLimits, type SignedIn } from '../../helpers/identity.js';
import { addPolicy, createOrg, join, user } from './org-helpers.js';

/**
 * Every org route × owner / admin / member / custom role / non-member. Destructive cells act on a fresh
 * target made by the owner, so each cell is independent of the others.
 */
let t: TestApp;
type Who = 'owner' | 'admin' | 'member' | 'custom' | 'outsider';
const WHO: Who[] = ['owner', 'admin', 'member', 'custom', 'outsider'];
// The custom role "ops": sees members and policies, runs invitations; nothing else.
const OPS = ['members:read', 'invites:*', 'policies:read'];

interface Fixture { orgId: string; users: Record<Who, SignedIn> }

async function fixture(): Promise<Fixture> {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'ops', permissions: OPS } });
  expect(role.statusCode, role.body).toBe(200);
  const users = { owner } as Record<Who, SignedIn>;
  for (const [who, roles] of [['admin', ['admin']], ['member', ['member']], ['custom', ['ops']]] as const) {
    users[who] = await user(t, { prefix: who });
    await join(t.app, owner.accessToken, org.id, users[who], [...roles]);
  }
  users.outsider = await user(t, { prefix: 'outsider' });
  return { orgId: org.id, users };
}

let f: Fixture;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  f = await fixture();
});
afterAll(async () => { await t?.close(); });

type Req = { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; json?: unknown };
interface Route {
  name: string;
  /** builds the request, preparing a fresh target as the owner when the cell needs one */
  req(fx: Fixture): Promise<Req>;
  expect: Record<Who, number>;
}

const ownerToken = (fx: Fixture) => fx.users.owner.accessToken;
const freshMember = async (fx: Fixture) => {
  const u = await user(t, { prefix: 'target' });
  await join(t.app, ownerToken(fx), fx.orgId, u, ['member']);
  return u.userId;
};
const freshRole = async (fx: Fixture) => (await call(t.app, { method: 'POST', url: `/auth/orgs/${fx.orgId}/roles`, token: ownerToken(fx),
  json: { name: `r-${randomUUID().slice(0, 8)}`, permissions: ['members:read'] } })).data.id as string;
const freshInvite = async (fx: Fixture) => (await call(t.app, { method: 'POST', url: `/auth/orgs/${fx.orgId}/invites`, token: ownerToken(fx),
  json: { email: `inv-${randomUUID().slice(0, 8)}@example.com`, roles: ['member'] } })).data.id as string;

const ROUTES: Route[] = [
  { name: 'GET /orgs/{id}', req: async (fx) => ({ method: 'GET', url: `/auth/orgs/${fx.orgId}` }),
    expect: { owner: 200, admin: 200, member: 200, custom: 403, outsider: 404 } },
  { name: 'PATCH /orgs/{id}', req: async (fx) => ({ method: 'PATCH', url: `/auth/orgs/${fx.orgId}`, json: { name: 'Renamed' } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'POST /orgs/{id}/switch', req: async (fx) => ({ method: 'POST', url: `/auth/orgs/${fx.orgId}/switch` }),
    expect: { owner: 200, admin: 200, member: 200, custom: 200, outsider: 404 } },
  { name: 'GET /orgs/{id}/members', req: async (fx) => ({ method: 'GET', url: `/auth/orgs/${fx.orgId}/members` }),
    expect: { owner: 200, admin: 200, member: 200, custom: 200, outsider: 404 } },
  { name: 'PATCH /orgs/{id}/members/{user}', req: async (fx) => ({ method: 'PATCH', url: `/auth/orgs/${fx.orgId}/members/${await freshMember(fx)}`, json: { roles: ['member'], attributes: { team: 'x' } } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'DELETE /orgs/{id}/members/{user}', req: async (fx) => ({ method: 'DELETE', url: `/auth/orgs/${fx.orgId}/members/${await freshMember(fx)}` }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'GET /orgs/{id}/roles', req: async (fx) => ({ method: 'GET', url: `/auth/orgs/${fx.orgId}/roles` }),
    expect: { owner: 200, admin: 200, member: 200, custom: 403, outsider: 404 } },
  { name: 'POST /orgs/{id}/roles', req: async (fx) => ({ method: 'POST', url: `/auth/orgs/${fx.orgId}/roles`, json: { name: `n-${randomUUID().slice(0, 8)}`, permissions: ['members:read'] } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'PATCH /orgs/{id}/roles/{role}', req: async (fx) => ({ method: 'PATCH', url: `/auth/orgs/${fx.orgId}/roles/${await freshRole(fx)}`, json: { description: 'changed' } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'DELETE /orgs/{id}/roles/{role}', req: async (fx) => ({ method: 'DELETE', url: `/auth/orgs/${fx.orgId}/roles/${await freshRole(fx)}` }),
    expect: { owner: 204, admin: 204, member: 403, custom: 403, outsider: 404 } },
  { name: 'GET /orgs/{id}/policies', req: async (fx) => ({ method: 'GET', url: `/auth/orgs/${fx.orgId}/policies` }),
    expect: { owner: 200, admin: 200, member: 403, custom: 200, outsider: 404 } },
  { name: 'POST /orgs/{id}/policies', req: async (fx) => ({ method: 'POST', url: `/auth/orgs/${fx.orgId}/policies`, json: { name: `p-${randomUUID().slice(0, 8)}`, effect: 'deny', actions: ['assets:delete'] } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 403, outsider: 404 } },
  { name: 'DELETE /orgs/{id}/policies/{policy}', req: async (fx) => {
    const p = await addPolicy(t.app, ownerToken(fx), fx.orgId, { name: `a-${randomUUID().slice(0, 8)}`, effect: 'allow', actions: ['assets:read'] });
    return { method: 'DELETE', url: `/auth/orgs/${fx.orgId}/policies/${p.id}` };
  }, expect: { owner: 204, admin: 204, member: 403, custom: 403, outsider: 404 } },
  { name: 'GET /orgs/{id}/invites', req: async (fx) => ({ method: 'GET', url: `/auth/orgs/${fx.orgId}/invites` }),
    expect: { owner: 200, admin: 200, member: 403, custom: 200, outsider: 404 } },
  { name: 'POST /orgs/{id}/invites', req: async (fx) => ({ method: 'POST', url: `/auth/orgs/${fx.orgId}/invites`, json: { email: `x-${randomUUID().slice(0, 8)}@example.com`, roles: ['ops'] } }),
    expect: { owner: 200, admin: 200, member: 403, custom: 200, outsider: 404 } },
  { name: 'DELETE /orgs/{id}/invites/{invite}', req: async (fx) => ({ method: 'DELETE', url: `/auth/orgs/${fx.orgId}/invites/${await freshInvite(fx)}` }),
    expect: { owner: 204, admin: 204, member: 403, custom: 204, outsider: 404 } },
  { name: 'POST /permissions {orgId}', req: async (fx) => ({ method: 'POST', url: '/auth/permissions', json: { orgId: fx.orgId } }),
    expect: { owner: 200, admin: 200, member: 200, custom: 200, outsider: 404 } },
];

describe('org permission matrix', () => {
  for (const route of ROUTES) {
    it(`${route.name}: ${WHO.map((w) => `${w} ${route.expect[w]}`).join(', ')}`, async () => {
      const got: Record<string, number> = {};
      for (const who of WHO) {
        const r = await route.req(f);
        const res = await call(t.app, { ...r, token: f.users[who].accessToken });
        got[who] = res.statusCode;
        if (res.statusCode >= 400) expect(res.data.error, `${who}: ${res.body}`).toBe({ 403: 'forbidden', 404: 'not_found' }[res.statusCode]);
      }
      expect(got).toEqual(route.expect);
    });
  }

  it('DELETE /orgs/{id}: owner 200, admin/member/custom 403, outsider 404', async () => {
    for (const who of WHO) {
      const fx = await fixture();
      const res = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${fx.orgId}`, token: fx.users[who].accessToken });
      expect(res.statusCode, `${who}: ${res.body}`).toBe({ owner: 200, admin: 403, member: 403, custom: 403, outsider: 404 }[who]);
      const still = await call(t.app, { method: 'GET', url: `/auth/orgs/${fx.orgId}`, token: fx.users.owner.accessToken });
      expect(still.statusCode).toBe(who === 'owner' ? 404 : 200);
    }
  });

  it('a non-member gets the same 404 as for an org that does not exist', async () => {
    const outsider = f.users.outsider.accessToken;
    for (const path of ['', '/members', '/roles', '/policies', '/invites']) {
      const a = await call(t.app, { method: 'GET', url: `/auth/orgs/${f.orgId}${path}`, token: outsider });
      const b = await call(t.app, { method: 'GET', url: `/auth/orgs/${randomUUID()}${path}`, token: outsider });
      expect(a.statusCode).toBe(404);
      expect({ error: a.data.error, message: a.data.message }).toEqual({ error: b.data.error, message: b.data.message });
    }
  });

  it('a non-uuid org id is a 400 on every org route', async () => {
    const token = f.users.owner.accessToken;
    for (const [method, url] of [['GET', '/auth/orgs/nope'], ['PATCH', '/auth/orgs/1'], ['DELETE', '/auth/orgs/x'], ['GET', '/auth/orgs/x/members'],
      ['DELETE', `/auth/orgs/${f.orgId}/members/abc`], ['DELETE', `/auth/orgs/${f.orgId}/roles/abc`], ['DELETE', `/auth/orgs/${f.orgId}/policies/abc`],
      ['DELETE', `/auth/orgs/${f.orgId}/invites/abc`], ['POST', '/auth/orgs/abc/switch']] as const) {
      const res = await call(t.app, { method, url, token, ...(method === 'PATCH' ? { json: { name: 'x' } } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });

  it('without a credential every org route is 401', async () => {
    for (const [method, url] of [['GET', '/auth/orgs'], ['POST', '/auth/orgs'], ['GET', `/auth/orgs/${f.orgId}`], ['POST', '/auth/authorize'], ['POST', '/auth/invites/accept']] as const) {
      expect((await call(t.app, { method, url, json: {} })).statusCode, `${method} ${url}`).toBe(401);
    }
  });
});
