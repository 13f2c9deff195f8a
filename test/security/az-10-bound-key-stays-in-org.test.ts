import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits } from '../helpers/identity.js';
import { apiKey, createOrg, join, user } from '../integration/orgs/org-helpers.js';

/**
 * Issue 24: an API key bound to an org acts only inside that org. Creating an org is outside every binding
 * (the key's user would become owner of a new org the binding does not cover), so a bound key gets 403; the
 * org-agnostic routes it can reach (listing orgs, accepting invites, switching, decisions and permissions
 * about another org) stay inside the binding too.
 */
let t: TestApp;
beforeAll(async () => { t = await createTestApp(); await raiseLimits(t); });
afterAll(async () => { await t?.close(); });

const orgsOf = async (userId: string) =>
  Number((await t.stores.sql.ownerQuery<{ n: string }>('SELECT count(*)::text AS n FROM org_members WHERE user_id = $1', [userId])).rows[0]!.n);

async function setUp() {
  const owner = await user(t, { prefix: 'owner' });
  const a = await createOrg(t.app, owner.accessToken, 'A');
  const b = await createOrg(t.app, owner.accessToken, 'B');
  const sw = await call(t.app, { method: 'POST', url: `/auth/orgs/${a.id}/switch`, token: owner.accessToken });
  expect(sw.statusCode, sw.body).toBe(200);
  const bound = await apiKey(t.app, sw.data.tokens.accessToken, ['*'], a.id);
  return { owner, a, b, bound };
}

describe('AZ-10 an org-bound API key stays inside its org', () => {
  it('cannot create an organization (403, nothing created); an unbound key still can', async () => {
    const { owner, bound } = await setUp();
    const res = await call(t.app, { method: 'POST', url: '/auth/orgs', token: bound, json: { name: 'Escape' } });
    expect(res.statusCode, res.body).toBe(403);
    expect(res.data.error).toBe('forbidden');
    expect(res.data.message).toMatch(/bound to an organization/i);
    expect(await orgsOf(owner.userId)).toBe(2);
    const orgs = await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM orgs WHERE name = 'Escape'`);
    expect(Number(orgs.rows[0]!.n)).toBe(0);
    const unbound = await apiKey(t.app, owner.accessToken, ['orgs:*']);
    expect((await call(t.app, { method: 'POST', url: '/auth/orgs', token: unbound, json: { name: 'Fine' } })).statusCode).toBe(200);
  });

  it('lists only its org, cannot switch or accept invites, and learns nothing about the other org', async () => {
    const { owner, a, b, bound } = await setUp();
    const list = await call(t.app, { method: 'GET', url: '/auth/orgs', token: bound });
    expect(list.statusCode).toBe(200);
    expect(list.data.items.map((o: { id: string }) => o.id)).toEqual([a.id]);
    expect((await call(t.app, { method: 'POST', url: `/auth/orgs/${b.id}/switch`, token: bound })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${b.id}`, token: bound })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'POST', url: '/auth/permissions', token: bound, json: { orgId: b.id } })).statusCode).toBe(404);
    const decision = await call(t.app, { method: 'POST', url: '/auth/authorize', token: bound, json: { action: 'org:read', orgId: b.id } });
    expect(decision.data.allowed).toBe(false);

    // An invite to a third org, addressed to the key's user: accepting it needs an interactive session.
    const other = await user(t, { prefix: 'other' });
    const c = await createOrg(t.app, other.accessToken, 'C');
    const inv = await call(t.app, { method: 'POST', url: `/auth/orgs/${c.id}/invites`, token: other.accessToken, json: { email: owner.email, roles: ['member'] } });
    expect(inv.statusCode, inv.body).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/invites/accept', token: bound, json: { token: inv.data.token } })).statusCode).toBe(403);
    expect(await orgsOf(owner.userId)).toBe(2);
    await join(t.app, other.accessToken, c.id, owner, ['member']);
    expect(await orgsOf(owner.userId)).toBe(3);
  });
});
