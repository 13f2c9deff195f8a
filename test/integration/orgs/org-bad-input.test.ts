import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { raiseLimits, type SignedIn } from '../../helpers/identity.js';
import { createOrg, join, rows, storedRoles, user } from './org-helpers.js';

/** Bad input on every org and authz route: 400 validation_failed with a clear message, and nothing changes. */
let t: TestApp;
let owner: SignedIn;
let m: SignedIn;
let orgId: string;
let roleId: string;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  owner = await user(t, { prefix: 'owner' });
  m = await user(t);
  orgId = (await createOrg(t.app, owner.accessToken)).id;
  await join(t.app, owner.accessToken, orgId, m, ['member']);
  roleId = (await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/roles`, token: owner.accessToken, json: { name: 'viewer', permissions: ['docs:read'] } })).data.id;
});
afterAll(async () => { await t?.close(); });

const snapshot = async () => ({
  orgs: await rows(t, 'orgs'), members: await rows(t, 'org_members'), roles: await rows(t, 'org_roles'),
  policies: await rows(t, 'org_policies'), invites: await rows(t, 'org_invites'),
  memberRoles: await storedRoles(t, orgId, m.userId),
  role: (await t.stores.sql.ownerQuery('SELECT name, permissions, description FROM org_roles WHERE id = $1', [roleId])).rows[0],
  org: (await t.stores.sql.ownerQuery('SELECT name, tenant_id, created_at FROM orgs WHERE id = $1', [orgId])).rows[0],
});

const BIG = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
const CASES: [string, 'POST' | 'PATCH', () => string, () => unknown, RegExp][] = [
  ['org without name', 'POST', () => '/auth/orgs', () => ({}), /name/],
  ['org with an empty name', 'POST', () => '/auth/orgs', () => ({ name: '   ' }), /name/],
  ['org with a control character', 'POST', () => '/auth/orgs', () => ({ name: 'a\u0007b' }), /control/],
  ['org with an id', 'POST', () => '/auth/orgs', () => ({ name: 'x', id: '00000000-0000-4000-8000-000000000000' }), /id|Unrecognized/i],
  ['org name as an object', 'PATCH', () => `/auth/orgs/${orgId}`, () => ({ name: { $ne: null } }), /name/],
  ['org patch with tenantId', 'PATCH', () => `/auth/orgs/${orgId}`, () => ({ name: 'x', tenantId: '00000000-0000-4000-8000-000000000000' }), /tenantId|Unrecognized/i],
  ['member patch without fields', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({}), /roles and\/or attributes/],
  ['member with no roles', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ roles: [] }), /roles/],
  ['member with an unknown role', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ roles: ['ghost'] }), /no role named "ghost"/],
  ['member with 11 roles', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ roles: Array.from({ length: 11 }, (_, i) => `r${i}`) }), /roles/],
  ['member attributes too many', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ attributes: BIG }), /at most 32/],
  ['member attribute key', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ attributes: { 'a.b': 1 } }), /key "a.b" must match/],
  ['member attributes as an array', 'PATCH', () => `/auth/orgs/${orgId}/members/${m.userId}`, () => ({ attributes: [1] }), /attributes/],
  ['role named like a built-in', 'POST', () => `/auth/orgs/${orgId}/roles`, () => ({ name: 'Admin', permissions: [] }), /built-in/],
  ['role with a bad permission', 'POST', () => `/auth/orgs/${orgId}/roles`, () => ({ name: 'r', permissions: ['Assets:Read'] }), /resource:action/],
  ['role with three segments', 'POST', () => `/auth/orgs/${orgId}/roles`, () => ({ name: 'r', permissions: ['a:b:c'] }), /resource:action/],
  ['role name with symbols', 'POST', () => `/auth/orgs/${orgId}/roles`, () => ({ name: '<b>', permissions: [] }), /letter or digit/],
  ['role patch without fields', 'PATCH', () => `/auth/orgs/${orgId}/roles/${roleId}`, () => ({}), /name, permissions/],
  ['role patch to a built-in name', 'PATCH', () => `/auth/orgs/${orgId}/roles/${roleId}`, () => ({ name: 'owner' }), /built-in/],
  ['authorize with a wildcard action', 'POST', () => '/auth/authorize', () => ({ action: 'assets:*', orgId }), /concrete/],
  ['authorize without action', 'POST', () => '/auth/authorize', () => ({ orgId }), /action/],
  ['authorize with a bad resource type', 'POST', () => '/auth/authorize', () => ({ action: 'a:b', orgId, resource: { type: 'a:b' } }), /type/],
  ['authorize with a non-uuid org', 'POST', () => '/auth/authorize', () => ({ action: 'a:b', orgId: 'acme' }), /orgId/],
  ['authorize with action as a number', 'POST', () => '/auth/authorize', () => ({ action: 5 }), /action/],
  ['permissions with a non-uuid org', 'POST', () => '/auth/permissions', () => ({ orgId: 1 }), /orgId/],
];

describe('bad input on org and authz routes', () => {
  it.each(CASES)('%s → 400', async (_name, method, url, json, message) => {
    const before = await snapshot();
    const res = await call(t.app, { method, url: url(), token: owner.accessToken, json: json() });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.data.error).toBe('validation_failed');
    expect(`${res.data.message} ${JSON.stringify(res.data.details ?? [])}`).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it('a custom role name that is taken is a 409 and changes nothing', async () => {
    const before = await snapshot();
    const res = await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/roles`, token: owner.accessToken, json: { name: 'VIEWER', permissions: [] } });
    expect(res.statusCode).toBe(409);
    expect(await snapshot()).toEqual(before);
  });
});
