import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits, type SignedIn } from '../helpers/identity.js';
import { addPolicy, apiKey, authorize, createOrg, join, rows, user } from '../integration/orgs/org-helpers.js';

/**
 * SECURITY AZ-02 for the org capability: nothing of tenant T2 (orgs, members, roles, policies, invites)
 * is reachable from tenant T, by id or through a list, also under concurrent load.
 */
let t: TestApp;
let u: SignedIn; // T (default)
let v: SignedIn; // T2
let w: SignedIn; // T2, member of v's org
let mine: { id: string };
let theirs: { orgId: string; roleId: string; policyId: string; inviteId: string; inviteToken: string };

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  await t.deps.tenants.create({ slug: 'az02-t2', name: 'T2' });
  await raiseLimits(t, 'az02-t2');
  u = await user(t, { prefix: 'u' });
  mine = await createOrg(t.app, u.accessToken, 'Mine');
  v = await user(t, { prefix: 'v', tenant: 'az02-t2' });
  w = await user(t, { prefix: 'w', tenant: 'az02-t2' });
  const org = await createOrg(t.app, v.accessToken, 'Theirs');
  await join(t.app, v.accessToken, org.id, w, ['member']);
  const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: v.accessToken, json: { name: 'r', permissions: ['docs:read'] } });
  const policy = await addPolicy(t.app, v.accessToken, org.id, { name: 'p', effect: 'allow', actions: ['docs:read'] });
  const inv = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/invites`, token: v.accessToken, json: { email: u.email, roles: ['member'] } });
  theirs = { orgId: org.id, roleId: role.data.id, policyId: policy.id, inviteId: inv.data.id, inviteToken: inv.data.token };
});
afterAll(async () => { await t?.close(); });

describe('AZ-02 org objects never cross tenants', () => {
  it('every {id} route answers T2 ids with the same 404 as unknown ids, and changes nothing', async () => {
    const before = await Promise.all(['orgs', 'org_members', 'org_roles', 'org_policies', 'org_invites'].map((x) => rows(t, x)));
    const routes = (o: string, m: string, r: string, p: string, i: string) => [
      ['GET', `/auth/orgs/${o}`], ['PATCH', `/auth/orgs/${o}`, { name: 'pwned' }], ['DELETE', `/auth/orgs/${o}`], ['POST', `/auth/orgs/${o}/switch`],
      ['GET', `/auth/orgs/${o}/members`], ['PATCH', `/auth/orgs/${o}/members/${m}`, { roles: ['member'] }], ['DELETE', `/auth/orgs/${o}/members/${m}`],
      ['GET', `/auth/orgs/${o}/roles`], ['POST', `/auth/orgs/${o}/roles`, { name: 'x', permissions: [] }], ['PATCH', `/auth/orgs/${o}/roles/${r}`, { name: 'y' }], ['DELETE', `/auth/orgs/${o}/roles/${r}`],
      ['GET', `/auth/orgs/${o}/policies`], ['POST', `/auth/orgs/${o}/policies`, { name: 'x', effect: 'deny', actions: ['a:b'] }], ['DELETE', `/auth/orgs/${o}/policies/${p}`],
      ['GET', `/auth/orgs/${o}/invites`], ['POST', `/auth/orgs/${o}/invites`, { email: 'z@example.com', roles: ['member'] }], ['DELETE', `/auth/orgs/${o}/invites/${i}`],
    ] as const;
    const foreign = routes(theirs.orgId, w.userId, theirs.roleId, theirs.policyId, theirs.inviteId);
    const unknown = routes(randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID());
    for (const [k, [method, url, json]] of foreign.entries()) {
      const a = await call(t.app, { method, url, token: u.accessToken, ...(json ? { json } : {}) });
      const [m2, url2, json2] = unknown[k]!;
      const b = await call(t.app, { method: m2, url: url2, token: u.accessToken, ...(json2 ? { json: json2 } : {}) });
      expect(a.statusCode, `${method} ${url}`).toBe(404);
      expect({ error: a.data.error, message: a.data.message }).toEqual({ error: b.data.error, message: b.data.message });
    }
    // Also with T's owner acting on its own org but naming T2's member/role/policy/invite ids.
    for (const [method, url, json] of routes(mine.id, w.userId, theirs.roleId, theirs.policyId, theirs.inviteId).filter(([, url]) => url.split('/').length > 5)) {
      const res = await call(t.app, { method, url, token: u.accessToken, ...(json ? { json } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    const after = await Promise.all(['orgs', 'org_members', 'org_roles', 'org_policies', 'org_invites'].map((x) => rows(t, x)));
    expect(after).toEqual(before);
  });

  it('decisions and permissions about a T2 org or a T2 user answer as for strangers', async () => {
    expect((await authorize(t.app, u.accessToken, { action: 'docs:read', orgId: theirs.orgId })).data.allowed).toBe(false);
    expect((await call(t.app, { method: 'POST', url: '/auth/permissions', token: u.accessToken, json: { orgId: theirs.orgId } })).statusCode).toBe(404);
    const rs = await apiKey(t.app, u.accessToken, ['authz:check']);
    const res = await authorize(t.app, rs, { action: 'docs:read', orgId: theirs.orgId, subjectId: w.userId });
    expect(res.data).toEqual({ allowed: false, reason: 'the subject is not a member of the organization' });
    // A T token with X-Tenant-ID of T2 is refused outright.
    expect((await call(t.app, { method: 'GET', url: '/auth/orgs', token: u.accessToken, headers: { 'x-tenant-id': 'az02-t2' } })).statusCode).toBe(403);
  });

  it('200 interleaved concurrent list calls from both tenants each see only their own tenant', async () => {
    const mineIds = new Set([mine.id]);
    const theirIds = new Set([theirs.orgId]);
    const reqs = Array.from({ length: 200 }, (_, i) => {
      const asU = i % 2 === 0;
      const token = asU ? u.accessToken : v.accessToken;
      const org = asU ? mine.id : theirs.orgId;
      const url = [`/auth/orgs`, `/auth/orgs/${org}/members`, `/auth/orgs/${org}/policies`, `/auth/orgs/${org}/roles`][i % 4]!;
      return call(t.app, { method: 'GET', url, token }).then((res) => ({ asU, url, res }));
    });
    for (const { asU, url, res } of await Promise.all(reqs)) {
      expect(res.statusCode, url).toBe(200);
      const body = res.body;
      if (url === '/auth/orgs') {
        const ids = res.data.items.map((o: { id: string }) => o.id);
        for (const id of ids) expect((asU ? mineIds : theirIds).has(id)).toBe(true);
      }
      if (asU) {
        expect(body).not.toContain(theirs.orgId);
        expect(body).not.toContain(w.userId);
        expect(body).not.toContain(v.userId);
      } else {
        expect(body).not.toContain(mine.id);
        expect(body).not.toContain(u.userId);
      }
    }
    const crossed = await t.stores.sql.ownerQuery<{ n: string }>(
      `SELECT count(*)::text AS n FROM org_members m JOIN users u ON u.id = m.user_id JOIN orgs o ON o.id = m.org_id
        WHERE m.tenant_id <> u.tenant_id OR m.tenant_id <> o.tenant_id`);
    expect(Number(crossed.rows[0]!.n)).toBe(0);
  });

  it('the database refuses a membership pointing at another tenant\'s org (composite keys)', async () => {
    const tId = (await t.deps.tenants.resolve('default'))!.id;
    await expect(t.stores.sql.tx(tId, (tx) => tx.query(
      'INSERT INTO org_members (tenant_id, org_id, user_id, roles) VALUES ($1, $2, $3, ARRAY[\'owner\'])', [tId, theirs.orgId, u.userId]))).rejects.toThrow();
  });
});
