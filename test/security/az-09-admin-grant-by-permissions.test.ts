import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { enableMfa, freshSessionWithoutStepUp, MFA_TEST_ENV, nextCode } from '../integration/mfa/mfa-helpers.js';
import { apiKey, createOrg, join, rows, storedRoles, user } from '../integration/orgs/org-helpers.js';
import { AppError } from '../../src/http/errors.js';
import type { SessionPrincipal } from '../../src/http/principal.js';
import { ADMIN_LEVEL_ACTIONS, BUILT_IN_PERMISSIONS, isAdminLevel } from '../../src/modules/orgs/roles.js';

/**
 * Issue 24 (AZ-03 / MFA-08): admin-level power is granted only through the TOTP gate and never by an API key,
 * whatever path grants it (member update, invite, custom role creation or change) and whatever the role is
 * called: "admin-level" is decided by the permissions a role carries (members, roles, policies, invites
 * writes; deleting the org), not by the names `admin`/`owner`. Holders of such custom roles are org admins for
 * the tenant's requireMfaForAdmins too.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MFA_TEST_ENV });
  await t.deps.tenants.create({ slug: 'az09-mfa', name: 'Az09', settings: { requireMfaForAdmins: true } });
});
afterAll(async () => { await t?.close(); });

/** An org whose owner has MFA on and a session that has not stepped up, an API key of the owner (orgs:*), and a member. */
async function setUp() {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  const m = await user(t);
  await join(t.app, owner.accessToken, org.id, m, ['member']);
  // A custom role the owner made while the session was fresh (no MFA yet): the admin-level one to assign.
  const ops = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'ops', permissions: ['members:*', 'roles:*', 'policies:*', 'invites:*'] } });
  expect(ops.statusCode, ops.body).toBe(200);
  const readers = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/roles`, token: owner.accessToken, json: { name: 'readers', permissions: ['assets:read', 'members:read'] } });
  expect(readers.statusCode, readers.body).toBe(200);
  const key = await apiKey(t.app, owner.accessToken, ['orgs:*']);
  const { secret } = await enableMfa(t, owner.accessToken);
  const s = await freshSessionWithoutStepUp(t, owner.email, secret);
  return { owner, org, m, key, secret, token: s.accessToken, readersId: readers.data.id as string, opsId: ops.data.id as string };
}

const invite = (token: string, orgId: string, roles: string[], headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/invites`, token, headers, json: { email: `inv-${Math.random().toString(36).slice(2)}@example.com`, roles } });
const createRole = (token: string, orgId: string, name: string, permissions: string[]) =>
  call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/roles`, token, json: { name, permissions } });
const patchRole = (token: string, orgId: string, roleId: string, json: unknown) =>
  call(t.app, { method: 'PATCH', url: `/auth/orgs/${orgId}/roles/${roleId}`, token, json });
const patchMember = (token: string, orgId: string, userId: string, roles: string[], headers: Record<string, string> = {}) =>
  call(t.app, { method: 'PATCH', url: `/auth/orgs/${orgId}/members/${userId}`, token, headers, json: { roles } });

/** Each permission set that lets its holder change membership, roles or policies, or delete the org. */
const ADMIN_LEVEL = [['members:write'], ['members:delete'], ['members:*'], ['roles:write'], ['roles:*'], ['policies:write'], ['invites:write'], ['org:delete'], ['org:*'], ['*:write'], ['*:*'], ['*']];

describe('AZ-09 granting admin-level power needs the TOTP step-up, whatever the path', () => {
  it('an invite with admin, owner or an admin-level custom role: 401 totp_required, then accepted with the challenge; plain roles pass', async () => {
    const { org, token, secret } = await setUp();
    for (const roles of [['admin'], ['owner'], ['ops'], ['member', 'OPS']]) {
      const res = await invite(token, org.id, roles);
      expect(res.statusCode, roles.join()).toBe(401);
      expect(res.data.error).toBe('totp_required');
    }
    expect(await rows(t, 'org_invites', org.id)).toBe(1); // only setUp's own
    const gated = await invite(token, org.id, ['ops']);
    const done = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token, json: { challenge: gated.data.challenge, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const again = await call(t.app, { method: 'POST', url: `/auth/orgs/${org.id}/invites`, token, headers: { 'x-totp-challenge': gated.data.challenge }, json: { email: 'ops-hire@example.com', roles: ['ops'] } });
    expect(again.statusCode, again.body).toBe(200);
    for (const roles of [['member'], ['readers']]) expect((await invite(token, org.id, roles)).statusCode, roles.join()).toBe(200);
  });

  it('an API key cannot invite with admin, owner or an admin-level role (403); the invitee never becomes admin', async () => {
    const { org, key } = await setUp();
    for (const roles of [['admin'], ['owner'], ['ops']]) {
      const res = await invite(key, org.id, roles);
      expect(res.statusCode, `${roles.join()} ${res.body}`).toBe(403);
      expect(res.data.error).toBe('forbidden');
    }
    expect(await rows(t, 'org_invites', org.id)).toBe(1);
    expect((await invite(key, org.id, ['readers'])).statusCode).toBe(200);
  });

  it('creating a custom role with admin-level permissions is gated (session) and refused (key); other roles are not', async () => {
    const { org, token, key } = await setUp();
    for (const [i, permissions] of ADMIN_LEVEL.entries()) {
      const s = await createRole(token, org.id, `adm${i}`, permissions);
      expect(s.statusCode, `${permissions.join()} ${s.body}`).toBe(401);
      expect(s.data.error).toBe('totp_required');
      const k = await createRole(key, org.id, `adm${i}`, permissions);
      expect(k.statusCode, `${permissions.join()} ${k.body}`).toBe(403);
    }
    expect(await rows(t, 'org_roles', org.id)).toBe(2);
    for (const [i, permissions] of [['assets:*'], ['org:read', 'org:update', 'members:read', 'roles:read', 'policies:read', 'invites:read']].entries()) {
      expect((await createRole(token, org.id, `plain${i}`, permissions)).statusCode, permissions.join()).toBe(200);
      expect((await createRole(key, org.id, `plainkey${i}`, permissions)).statusCode, permissions.join()).toBe(200);
    }
  });

  it('giving an existing custom role admin-level permissions is gated (session) and refused (key); a rename is not', async () => {
    const { org, token, key, secret, readersId, m } = await setUp();
    await patchMember(token, org.id, m.userId, ['readers']);
    for (const tok of [token, key]) {
      const res = await patchRole(tok, org.id, readersId, { permissions: ['assets:read', 'members:write'] });
      expect(res.statusCode, res.body).toBe(tok === key ? 403 : 401);
    }
    const role = await t.stores.sql.ownerQuery<{ permissions: string[] }>('SELECT permissions FROM org_roles WHERE id = $1', [readersId]);
    expect(role.rows[0]!.permissions).toEqual(['assets:read', 'members:read']);
    expect((await patchRole(key, org.id, readersId, { name: 'viewers', description: 'reads' })).statusCode).toBe(200);
    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token, json: { code: nextCode(t, secret) } });
    expect(v.statusCode, v.body).toBe(200);
    expect((await patchRole(token, org.id, readersId, { permissions: ['assets:read', 'members:write'] })).statusCode).toBe(200);
  });

  it('assigning an admin-level custom role to a member is gated (session) and refused (key); a plain custom role is not', async () => {
    const { org, m, token, key } = await setUp();
    for (const roles of [['ops'], ['readers', 'Ops']]) {
      const s = await patchMember(token, org.id, m.userId, roles);
      expect(s.statusCode, roles.join()).toBe(401);
      expect(s.data.error).toBe('totp_required');
      expect((await patchMember(key, org.id, m.userId, roles)).statusCode, roles.join()).toBe(403);
    }
    expect(await storedRoles(t, org.id, m.userId)).toEqual(['member']);
    expect((await patchMember(key, org.id, m.userId, ['readers'])).statusCode).toBe(200);
    expect(await storedRoles(t, org.id, m.userId)).toEqual(['readers']);
  });

  it('requireMfaForAdmins: a holder of an admin-level custom role without MFA must enroll; a holder of a plain one need not', async () => {
    const h = { 'x-tenant-id': 'az09-mfa' };
    const owner = await user(t, { prefix: 'owner', tenant: 'az09-mfa' });
    const org = (await call(t.app, { method: 'POST', url: '/auth/orgs', token: owner.accessToken, json: { name: 'Az09' } })).data;
    const { secret } = await enableMfa(t, owner.accessToken, h);
    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: owner.accessToken, json: { code: nextCode(t, secret) } });
    expect(v.statusCode, v.body).toBe(200);
    for (const [name, permissions] of [['ops', ['members:*', 'invites:*']], ['readers', ['assets:read']]] as const) {
      expect((await createRole(owner.accessToken, org.id, name, [...permissions])).statusCode).toBe(200);
    }
    const opsUser = await user(t, { prefix: 'ops', tenant: 'az09-mfa' });
    const reader = await user(t, { prefix: 'reader', tenant: 'az09-mfa' });
    await join(t.app, owner.accessToken, org.id, opsUser, ['ops']);
    await join(t.app, owner.accessToken, org.id, reader, ['readers']);
    const gated = { method: 'POST' as const, url: '/auth/api-keys', json: { name: 'k', scopes: ['assets:read'] } };
    const ops = await call(t.app, { ...gated, token: opsUser.accessToken });
    expect(ops.statusCode, ops.body).toBe(403);
    expect(ops.data.error).toBe('mfa_enrollment_required');
    const plain = await call(t.app, { ...gated, token: reader.accessToken });
    expect(plain.statusCode, plain.body).toBe(201);
  });

  it('the services refuse (409) an admin-level grant the route did not clear — a role changed in between, or a caller that skips the gate', async () => {
    const { owner, org, m, readersId } = await setUp();
    const tenant = (await t.deps.tenants.resolve('default'))!;
    const principal: SessionPrincipal = {
      kind: 'session', tenantId: tenant.id, userId: owner.userId, sessionId: '22222222-2222-4222-8222-222222222222', jti: 'j',
      amr: ['pwd'], orgId: null, roles: [], authTime: Date.now(), stepUpAt: null, viaCookie: false, expiresAt: Date.now() + 60_000,
    };
    const c = { principal, tenant, ctx: { ip: '203.0.113.9', userAgent: 'vitest', requestId: 'az09' } };
    const svc = t.deps.services.orgs;
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('conflict');
    };
    await refused(svc.orgs.updateMember(c, org.id, m.userId, { roles: ['ops'] }));
    await refused(svc.invites.create(c, org.id, { email: 'x@example.com', roles: ['admin'] }));
    await refused(svc.roles.create(c, org.id, { name: 'sneaky', permissions: ['policies:*'] }));
    await refused(svc.roles.update(c, org.id, readersId, { permissions: ['members:delete'] }));
    expect(await storedRoles(t, org.id, m.userId)).toEqual(['member']);
    // The route's decision and the service's check are the same predicate: cleared, the grant goes through.
    expect(await svc.grantsAdminLevel(c, org.id, ['readers'])).toBe(false);
    expect(await svc.grantsAdminLevel(c, org.id, ['OPS'])).toBe(true);
    expect((await svc.orgs.updateMember(c, org.id, m.userId, { roles: ['ops'] }, { adminLevelCleared: true })).roles).toEqual(['ops']);
  });
});

describe('isAdminLevel: the one rule, by permissions', () => {
  it('discovery and the OpenAPI document tell agents which grants are gated', async () => {
    const d = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(d.data.capabilities.organizations.adminLevelActions).toEqual([...ADMIN_LEVEL_ACTIONS]);
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    for (const [path, method] of [['/auth/orgs/{org_id}/invites', 'post'], ['/auth/orgs/{org_id}/roles', 'post'], ['/auth/orgs/{org_id}/roles/{role_id}', 'patch'], ['/auth/orgs/{org_id}/members/{user_id}', 'patch']] as const) {
      const op = doc.paths[path][method];
      expect(op.description, path).toContain('members:write, members:delete, invites:write, roles:write, policies:write, org:delete');
      expect(Object.keys(op.responses), path).toEqual(expect.arrayContaining(['401', '403', '409']));
    }
  });


  it('owner and admin are admin-level, member is not; each admin-level action alone makes a role admin-level', () => {
    expect(isAdminLevel(BUILT_IN_PERMISSIONS.owner)).toBe(true);
    expect(isAdminLevel(BUILT_IN_PERMISSIONS.admin)).toBe(true);
    expect(isAdminLevel(BUILT_IN_PERMISSIONS.member)).toBe(false);
    for (const a of ADMIN_LEVEL_ACTIONS) expect(isAdminLevel(['assets:read', a]), a).toBe(true);
    for (const p of ADMIN_LEVEL) expect(isAdminLevel(p), p.join()).toBe(true);
    for (const p of [[], ['org:read', 'org:update'], ['members:read', 'roles:read', 'policies:read', 'invites:read'], ['assets:*'], ['*:read'], ['members'], ['org']]) {
      expect(isAdminLevel(p), p.join()).toBe(false);
    }
  });
});
