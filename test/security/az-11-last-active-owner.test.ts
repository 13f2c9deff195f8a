import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits } from '../helpers/identity.js';
import { createOrg, join, storedRoles, user } from '../integration/orgs/org-helpers.js';

/**
 * Issue 24 (DESIGN: the last owner cannot leave or be demoted): the rule counts owners who can act, so a
 * disabled owner does not count. Otherwise the only active owner could leave or demote themselves and leave
 * the org to an owner who cannot sign in.
 */
let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  admin = (await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 90 })).key;
});
afterAll(async () => { await t?.close(); });

const disable = (app: FastifyInstance, userId: string, disabled: boolean) =>
  call(app, { method: 'PATCH', url: `/auth/admin/users/${userId}`, token: admin, json: { disabled } });

/** An org with an active owner, a second owner who is then disabled, and a member. */
async function setUp() {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  const gone = await user(t, { prefix: 'gone' });
  const m = await user(t);
  await join(t.app, owner.accessToken, org.id, gone, ['owner']);
  await join(t.app, owner.accessToken, org.id, m, ['member']);
  expect((await disable(t.app, gone.userId, true)).statusCode).toBe(200);
  return { owner, org, gone, m };
}

describe('AZ-11 the last active owner stays', () => {
  it('the only active owner can neither leave nor demote themselves while the other owner is disabled (409)', async () => {
    const { owner, org } = await setUp();
    const leave = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${owner.userId}`, token: owner.accessToken });
    expect(leave.statusCode, leave.body).toBe(409);
    expect(leave.data.error).toBe('conflict');
    const demote = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${owner.userId}`, token: owner.accessToken, json: { roles: ['admin'] } });
    expect(demote.statusCode, demote.body).toBe(409);
    expect(await storedRoles(t, org.id, owner.userId)).toEqual(['owner']);
  });

  it('the disabled owner can still be demoted or removed by the active one; with the other owner active again, leaving works', async () => {
    const { owner, org, gone } = await setUp();
    const demote = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${gone.userId}`, token: owner.accessToken, json: { roles: ['member'] } });
    expect(demote.statusCode, demote.body).toBe(200);
    const remove = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/members/${gone.userId}`, token: owner.accessToken });
    expect(remove.statusCode, remove.body).toBe(200);

    const second = await setUp();
    expect((await disable(t.app, second.gone.userId, false)).statusCode).toBe(200);
    const leave = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${second.org.id}/members/${second.owner.userId}`, token: second.owner.accessToken });
    expect(leave.statusCode, leave.body).toBe(200);
    expect(await storedRoles(t, second.org.id, second.gone.userId)).toEqual(['owner']);
  });
});
