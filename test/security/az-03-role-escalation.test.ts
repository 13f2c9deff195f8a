import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits } from '../helpers/identity.js';
import { createOrg, join, rows, storedRoles, user } from '../integration/orgs/org-helpers.js';

/** SECURITY AZ-03: the org role hierarchy cannot be escalated; the last owner stays. */
let t: TestApp;
beforeAll(async () => { t = await createTestApp(); await raiseLimits(t); });
afterAll(async () => { await t?.close(); });

async function orgWith(...roles: string[][]) {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  const others = [];
  for (const r of roles) {
    const u = await user(t);
    await join(t.app, owner.accessToken, org.id, u, r);
    others.push(u);
  }
  return { owner, org, others };
}

const patchMember = (token: string, orgId: string, userId: string, json: unknown) =>
  call(t.app, { method: 'PATCH', url: `/auth/orgs/${orgId}/members/${userId}`, token, json });

describe('AZ-03 role escalation', () => {
  it('a member cannot promote themselves or create roles (403, nothing changes)', async () => {
    const { org, others: [m] } = await orgWith(['member']);
    const self = await patchMember(m!.accessToken, org.id, m!.userId, { roles: ['admin'] });
    expect(self.statusCode).toBe(403);
    expect(await storedRoles(t, org.id, m!.userId)).toEqual(['member']);
    const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: m!.accessToken, json: { name: 'mine', permissions: ['members:read'] } });
    expect(role.statusCode).toBe(403);
    expect(await rows(t, 'org_roles', org.id)).toBe(0);
  });

  it('an admin can neither make owners, demote or remove the owner, nor create a role beyond their own permissions', async () => {
    const { owner, org, others: [admin, m] } = await orgWith(['admin'], ['member']);
    const tok = admin!.accessToken;
    expect((await patchMember(tok, org.id, m!.userId, { roles: ['owner'] })).statusCode).toBe(403);
    expect((await patchMember(tok, org.id, admin!.userId, { roles: ['owner'] })).statusCode).toBe(403);
    expect((await patchMember(tok, org.id, owner.userId, { roles: ['member'] })).statusCode).toBe(403);
    expect((await patchMember(tok, org.id, owner.userId, { attributes: { x: 1 } })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${owner.userId}`, token: tok })).statusCode).toBe(403);
    for (const permissions of [['*:*'], ['*'], ['org:delete'], ['org:*'], ['assets:read']]) {
      const res = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: tok, json: { name: `r${permissions.join('')}`.replace(/[^a-z0-9]/gi, 'x'), permissions } });
      expect(res.statusCode, permissions.join()).toBe(403);
    }
    // Within their own permissions an admin may create roles.
    const ok = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: tok, json: { name: 'readers', permissions: ['members:read', 'invites:*'] } });
    expect(ok.statusCode, ok.body).toBe(200);
    // An allow policy is a grant too: an admin cannot allow what they do not hold; a deny only narrows.
    const allow = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/policies`, token: tok, json: { name: 'a', effect: 'allow', actions: ['assets:read'] } });
    expect(allow.statusCode).toBe(403);
    expect(await storedRoles(t, org.id, owner.userId)).toEqual(['owner']);
    expect(await storedRoles(t, org.id, m!.userId)).toEqual(['member']);
    expect(await rows(t, 'org_roles', org.id)).toBe(1);
    expect(await rows(t, 'org_policies', org.id)).toBe(0);
    // The refusals are audited.
    const denied = await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events WHERE actor_id = $1 AND outcome = 'denied'`, [admin!.userId]);
    expect(Number(denied.rows[0]!.n)).toBeGreaterThanOrEqual(10);
  });

  it('an admin cannot assign or invite with a role carrying permissions they lack', async () => {
    const { owner, org, others: [admin, m] } = await orgWith(['admin'], ['member']);
    const su = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'super', permissions: ['*'] } });
    expect(su.statusCode).toBe(200);
    expect((await patchMember(admin!.accessToken, org.id, m!.userId, { roles: ['super'] })).statusCode).toBe(403);
    for (const roles of [['owner'], ['super']]) {
      const inv = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/invites`, token: admin!.accessToken, json: { email: 'new@example.com', roles } });
      expect(inv.statusCode, roles.join()).toBe(403);
    }
    expect(await rows(t, 'org_invites', org.id)).toBe(2); // the two made by orgWith
  });

  it('an admin cannot grant themselves a policy\'s permission by editing member attributes', async () => {
    const { owner, org, others: [admin, m] } = await orgWith(['admin'], ['member']);
    const policy = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/policies`, token: owner.accessToken,
      json: { name: 'finance reads', effect: 'allow', actions: ['finance:read'], condition: { eq: [{ var: 'subject.attributes.dept' }, 'finance'] } } });
    expect(policy.statusCode).toBe(200);
    for (const target of [admin!, m!]) {
      const res = await patchMember(admin!.accessToken, org.id, target.userId, { attributes: { dept: 'finance' } });
      expect(res.statusCode, res.body).toBe(403);
    }
    const ask = await call(t.app, { method: 'POST', url: '/auth/authorize', token: admin!.accessToken, json: { action: 'finance:read', orgId: org.id } });
    expect(ask.data.allowed).toBe(false);
    expect((await patchMember(owner.accessToken, org.id, m!.userId, { attributes: { dept: 'finance' } })).statusCode).toBe(200);
  });

  it('only owners make owners: a holder of a "*" custom role still cannot grant owner', async () => {
    const { owner, org, others: [x, m] } = await orgWith(['member'], ['member']);
    await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'super', permissions: ['*'] } });
    expect((await patchMember(owner.accessToken, org.id, x!.userId, { roles: ['super'] })).statusCode).toBe(200);
    const res = await patchMember(x!.accessToken, org.id, m!.userId, { roles: ['owner'] });
    expect(res.statusCode).toBe(403);
    expect(res.data.message).toMatch(/Only owners/);
    // An owner can.
    expect((await patchMember(owner.accessToken, org.id, m!.userId, { roles: ['owner'] })).statusCode).toBe(200);
    expect(await storedRoles(t, org.id, m!.userId)).toEqual(['owner']);
  });

  it('the sole owner can neither leave nor demote themselves (409); with a second owner they can', async () => {
    const { owner, org, others: [o2] } = await orgWith(['member']);
    const leave = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${owner.userId}`, token: owner.accessToken });
    expect(leave.statusCode).toBe(409);
    expect(leave.data.error).toBe('conflict');
    expect((await patchMember(owner.accessToken, org.id, owner.userId, { roles: ['admin'] })).statusCode).toBe(409);
    expect(await storedRoles(t, org.id, owner.userId)).toEqual(['owner']);
    expect((await patchMember(owner.accessToken, org.id, o2!.userId, { roles: ['owner'] })).statusCode).toBe(200);
    expect((await patchMember(owner.accessToken, org.id, owner.userId, { roles: ['admin'] })).statusCode).toBe(200);
    // Now o2 is the last owner.
    expect((await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${o2!.userId}`, token: o2!.accessToken })).statusCode).toBe(409);
  });

  it('two owners demoting each other, or both leaving, at once: exactly one succeeds and one owner remains', async () => {
    for (let round = 0; round < 4; round++) {
      const { owner, org, others: [o2] } = await orgWith(['member']);
      await patchMember(owner.accessToken, org.id, o2!.userId, { roles: ['owner'] });
      const results = await Promise.all(round % 2 === 0
        ? [patchMember(owner.accessToken, org.id, o2!.userId, { roles: ['member'] }), patchMember(o2!.accessToken, org.id, owner.userId, { roles: ['member'] })]
        : [call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${owner.userId}`, token: owner.accessToken }),
          call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${o2!.userId}`, token: o2!.accessToken })]);
      const owners = await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM org_members WHERE org_id = $1 AND 'owner' = ANY(roles)`, [org.id]);
      const codes = results.map((r) => r.statusCode);
      expect(Number(owners.rows[0]!.n), codes.join()).toBe(1);
      expect(codes.filter((c) => c < 300), codes.join()).toHaveLength(1);
    }
  });
});
