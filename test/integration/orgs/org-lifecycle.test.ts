import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { parts, raiseLimits, refresh } from '../../helpers/identity.js';
import { mailsTo } from '../../helpers/mail.js';
import { addPolicy, authorize, createOrg, join, rows, user } from './org-helpers.js';

let t: TestApp;
beforeAll(async () => { t = await createTestApp(); await raiseLimits(t); });
afterAll(async () => { await t?.close(); });

const auditActions = async (target?: string) => (await t.stores.sql.ownerQuery<{ action: string; outcome: string }>(
  `SELECT action, outcome FROM audit_events ${target ? 'WHERE target = $1' : ''} ORDER BY seq`, target ? [target] : [])).rows;

describe('org lifecycle through HTTP', () => {
  it('create → invite → roles → policies → authorize → switch → leave → delete', async () => {
    const owner = await user(t, { prefix: 'owner' });
    const bob = await user(t, { prefix: 'bob' });

    // Create: the creator is the owner.
    const org = await createOrg(t.app, owner.accessToken, 'Acme Inc');
    expect(org).toMatchObject({ name: 'Acme Inc', roles: ['owner'] });
    const list = await call(t.app, { method: 'GET', url: '/auth/orgs', token: owner.accessToken });
    expect(list.statusCode).toBe(200);
    expect(list.data).toMatchObject({ total: 1, limit: 50, offset: 0 });
    expect(list.data.items[0]).toMatchObject({ id: org.id, roles: ['owner'] });

    // Update; immutable fields are refused and nothing changes (SECURITY VAL-02 step 6).
    const renamed = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}`, token: owner.accessToken, json: { name: 'Acme' } });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.data.name).toBe('Acme');
    const immutable = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}`, token: owner.accessToken,
      json: { name: 'X', tenantId: '00000000-0000-4000-8000-000000000000', id: 'other', createdAt: 0 } });
    expect(immutable.statusCode).toBe(400);
    expect(immutable.data.error).toBe('validation_failed');
    const got = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}`, token: owner.accessToken });
    expect(got.data).toMatchObject({ id: org.id, name: 'Acme', createdAt: renamed.data.createdAt });

    // Invite: mailed with a PUBLIC_URL link, token returned once, never listed.
    const inv = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/invites`, token: owner.accessToken, json: { email: bob.email, roles: ['member'] } });
    expect(inv.statusCode, inv.body).toBe(200);
    expect(inv.headers['cache-control']).toBe('no-store');
    expect(inv.data).toMatchObject({ email: bob.email, roles: ['member'], status: 'pending' });
    expect(Buffer.from(inv.data.token, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(new Date(inv.data.expiresAt).getTime() - t.clock.nowMs()).toBe(7 * 24 * 3600_000);
    await t.deps.services.mailer.drain();
    const mail = mailsTo(t.config.dataDir, bob.email).at(-1)!;
    expect(mail.text).toContain(`${TEST_PUBLIC_URL}/auth/ui/invite?token=${encodeURIComponent(inv.data.token)}`);
    // like every mail of the service, it tells a reader who did not expect it that ignoring it is safe
    expect(mail.text).toContain('If you did not expect it, ignore this email — nothing will change and you do not join the organization.');
    const invites = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/invites`, token: owner.accessToken });
    expect(invites.data.items).toHaveLength(1);
    expect(invites.data.items[0]).not.toHaveProperty('token');

    const accepted = await call(t.app, { method: 'POST', url: '/auth/invites/accept', token: bob.accessToken, json: { token: inv.data.token } });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.data).toMatchObject({ id: org.id, roles: ['member'] });
    const members = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/members`, token: bob.accessToken });
    expect(members.statusCode).toBe(200);
    expect(members.data.total).toBe(2);
    expect(members.data.items.map((m: { userId: string }) => m.userId).sort()).toEqual([owner.userId, bob.userId].sort());

    // A custom role, granted with attributes.
    const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken,
      json: { name: 'Editor', permissions: ['assets:read', 'assets:write'], description: 'Edits assets' } });
    expect(role.statusCode, role.body).toBe(200);
    expect(role.data).toMatchObject({ name: 'Editor', permissions: ['assets:read', 'assets:write'], builtIn: false });
    const roles = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/roles`, token: bob.accessToken });
    expect(roles.data.items.map((r: { name: string }) => r.name)).toEqual(['owner', 'admin', 'member', 'Editor']);
    const patched = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${bob.userId}`, token: owner.accessToken,
      json: { roles: ['member', 'editor'], attributes: { dept: 'eng', level: 3 } } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.data).toMatchObject({ roles: ['member', 'Editor'], attributes: { dept: 'eng', level: 3 } });

    // Policies: an allow reading subject attributes, a deny on writes of archived things.
    const allow = await addPolicy(t.app, owner.accessToken, org.id, { name: 'eng reads reports', effect: 'allow', actions: ['reports:read'],
      condition: { eq: [{ var: 'subject.attributes.dept' }, 'eng'] } });
    const deny = await addPolicy(t.app, owner.accessToken, org.id, { name: 'no writes to archive', effect: 'deny', actions: ['assets:write'], resources: ['archive:*'] });
    const policies = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/policies`, token: owner.accessToken });
    expect(policies.data.items.map((p: { id: string }) => p.id)).toEqual([allow.id, deny.id]);

    const ask = (action: string, extra: Record<string, unknown> = {}) => authorize(t.app, bob.accessToken, { action, orgId: org.id, ...extra });
    expect((await ask('assets:read')).data).toEqual({ allowed: true, reason: 'granted by role permission "assets:read"' });
    expect((await ask('reports:read')).data).toEqual({ allowed: true, reason: 'allowed by policy "eng reads reports"', policyId: allow.id });
    expect((await ask('assets:write', { resource: { type: 'archive', id: '7' } })).data).toEqual({ allowed: false, reason: 'denied by policy "no writes to archive"', policyId: deny.id });
    expect((await ask('assets:write', { resource: { type: 'doc', id: '7' } })).data.allowed).toBe(true);
    expect((await ask('billing:read')).data).toEqual({ allowed: false, reason: 'no role or policy grants "billing:read"' });

    const perms = await call(t.app, { method: 'POST', url: '/auth/permissions', token: bob.accessToken, json: { orgId: org.id } });
    expect(perms.statusCode, perms.body).toBe(200);
    expect(perms.data).toEqual({ orgId: org.id, roles: ['member', 'Editor'], permissions: ['assets:read', 'assets:write', 'members:read', 'org:read', 'roles:read'] });

    // Switch: a new access token carrying org and roles; the active org survives a refresh.
    const sw = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/switch`, token: bob.accessToken });
    expect(sw.statusCode, sw.body).toBe(200);
    expect(sw.data).toMatchObject({ user: { id: bob.userId }, orgId: org.id, roles: ['member', 'Editor'], tokens: { expiresIn: 900 } });
    expect(parts(sw.data.tokens.accessToken).payload).toMatchObject({ org: org.id, roles: ['member', 'Editor'], sub: bob.userId });
    expect((await authorize(t.app, sw.data.tokens.accessToken, { action: 'assets:read' })).data.allowed).toBe(true);
    const perms2 = await call(t.app, { method: 'POST', url: '/auth/permissions', token: sw.data.tokens.accessToken });
    expect(perms2.data.orgId, perms2.body).toBe(org.id);
    const refreshed = await refresh(t.app, bob.refreshToken);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(parts(refreshed.data.tokens.accessToken).payload).toMatchObject({ org: org.id });
    const noOrg = await authorize(t.app, owner.accessToken, { action: 'assets:read' });
    expect(noOrg.data).toEqual({ allowed: false, reason: 'no organization: pass orgId or switch to an organization' });

    // Renaming the role carries members along; deleting it takes it away.
    const ren = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/roles/${role.data.id}`, token: owner.accessToken, json: { name: 'Writer' } });
    expect(ren.statusCode, ren.body).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/permissions', token: bob.accessToken, json: { orgId: org.id } })).data.roles).toEqual(['member', 'Writer']);
    expect((await ask('assets:read')).data.allowed).toBe(true);
    const delRole = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/roles/${role.data.id}`, token: owner.accessToken });
    expect(delRole.statusCode).toBe(204);
    expect((await ask('assets:read')).data.allowed).toBe(false);

    // Deleting a policy applies to the next decision.
    expect((await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/policies/${allow.id}`, token: owner.accessToken })).statusCode).toBe(204);
    expect((await ask('reports:read')).data.allowed).toBe(false);

    // Invites can be revoked; members leave; the org is deleted with everything in it.
    const carol = await user(t, { prefix: 'carol' });
    const inv2 = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/invites`, token: owner.accessToken, json: { email: carol.email, roles: ['member'] } });
    expect((await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/invites/${inv2.data.id}`, token: owner.accessToken })).statusCode).toBe(204);
    const revoked = await call(t.app, { method: 'POST', url: '/auth/invites/accept', token: carol.accessToken, json: { token: inv2.data.token } });
    expect(revoked.statusCode).toBe(404);
    const leave = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${bob.userId}`, token: bob.accessToken });
    expect(leave.statusCode).toBe(200);
    expect(leave.data).toEqual({ deleted: true });
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}`, token: bob.accessToken })).statusCode).toBe(404);
    expect((await ask('org:read')).data).toEqual({ allowed: false, reason: 'the subject is not a member of the organization' });

    const del = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}`, token: owner.accessToken });
    expect(del.statusCode, del.body).toBe(200);
    expect(del.data).toEqual({ deleted: true });
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}`, token: owner.accessToken })).statusCode).toBe(404);
    for (const table of ['orgs', 'org_members', 'org_roles', 'org_policies', 'org_invites']) expect(await rows(t, table, org.id)).toBe(0);

    // Every change is in the audit log.
    const actions = (await auditActions()).map((a) => a.action);
    for (const a of ['org.create', 'org.update', 'invite.create', 'invite.accept', 'role.create', 'member.update', 'policy.create', 'org.switch',
      'role.update', 'role.delete', 'policy.delete', 'invite.revoke', 'member.leave', 'org.delete']) {
      expect(actions, a).toContain(a);
    }
  });

  it('lists page with limit and offset, and refuses limits outside 1–200', async () => {
    const u = await user(t);
    for (let i = 0; i < 3; i++) { t.clock.advance(1000); await createOrg(t.app, u.accessToken, `Org ${i}`); }
    const p = await call(t.app, { method: 'GET', url: '/auth/orgs?limit=2&offset=1', token: u.accessToken });
    expect(p.statusCode).toBe(200);
    expect(p.data).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(p.data.items.map((o: { name: string }) => o.name)).toEqual(['Org 1', 'Org 2']);
    for (const q of ['limit=0', 'limit=201', 'offset=-1', 'limit=abc']) {
      const bad = await call(t.app, { method: 'GET', url: `/auth/orgs?${q}`, token: u.accessToken });
      expect(bad.statusCode, q).toBe(400);
    }
  });

  it('VAL-03: POST /orgs with the same Idempotency-Key twice creates one org and replays the answer', async () => {
    const u = await user(t);
    const send = (name: string) => call(t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name }, headers: { 'idempotency-key': 'org-k1' } });
    const first = await send('A');
    const again = await send('A');
    expect(first.statusCode).toBe(200);
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await send('B')).statusCode).toBe(422);
    const list = await call(t.app, { method: 'GET', url: '/auth/orgs', token: u.accessToken });
    expect(list.data.total).toBe(1);
  });

  it('switch needs a session: an org id of a non-member gives 404 and no token', async () => {
    const a = await user(t);
    const b = await user(t);
    const org = await createOrg(t.app, a.accessToken);
    const res = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/switch`, token: b.accessToken });
    expect(res.statusCode).toBe(404);
    expect(res.data.error).toBe('not_found');
  });

  it('a member with a deleted custom role keeps the member role', async () => {
    const a = await user(t);
    const b = await user(t);
    const org = await createOrg(t.app, a.accessToken);
    const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: a.accessToken, json: { name: 'viewer', permissions: ['assets:read'] } });
    await join(t.app, a.accessToken, org.id, b, ['viewer']);
    await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/roles/${role.data.id}`, token: a.accessToken });
    const perms = await call(t.app, { method: 'POST', url: '/auth/permissions', token: b.accessToken, json: { orgId: org.id } });
    expect(perms.data.roles).toEqual(['member']);
  });
});
