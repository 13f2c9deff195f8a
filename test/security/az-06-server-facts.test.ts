import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits, type SignedIn } from '../helpers/identity.js';
import { addPolicy, apiKey, authorize, createOrg, join, user } from '../integration/orgs/org-helpers.js';

/**
 * SECURITY AZ-06 and §D-14: subject and environment come from the server; resource attributes and
 * questions about other users only from a resource server (an API key with authz:check); an API key
 * acting for its own user never exceeds its scopes.
 */
let t: TestApp;
let owner: SignedIn;
let member: SignedIn;
let orgId: string;
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  owner = await user(t, { prefix: 'owner' });
  member = await user(t, { prefix: 'member' });
  orgId = (await createOrg(t.app, owner.accessToken)).id;
  await join(t.app, owner.accessToken, orgId, member, ['member']);
});
afterAll(async () => { await t?.close(); });

const v = (path: string) => ({ var: path });

describe('AZ-06 the request cannot supply subject, env or tenant', () => {
  it('extra subject / env / tenantId fields are refused with 400', async () => {
    for (const extra of [
      { subject: { id: owner.userId, roles: ['owner'] } },
      { env: { ip: '10.0.0.1', time: '2000-01-01T00:00:00Z' } },
      { tenantId: '00000000-0000-4000-8000-000000000000' },
      { roles: ['owner'] },
    ]) {
      const res = await authorize(t.app, member.accessToken, { action: 'org:delete', orgId, ...extra });
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });

  it('env.ip is the socket address: X-Forwarded-For is ignored without TRUST_PROXY', async () => {
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'from 10.0.0.1', effect: 'allow', actions: ['net:fwd'], condition: { eq: [v('env.ip'), '10.0.0.1'] } });
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'from loopback', effect: 'allow', actions: ['net:local'], condition: { eq: [v('env.ip'), '127.0.0.1'] } });
    const xff = { 'x-forwarded-for': '10.0.0.1' };
    expect((await authorize(t.app, member.accessToken, { action: 'net:fwd', orgId }, xff)).data.allowed).toBe(false);
    expect((await authorize(t.app, member.accessToken, { action: 'net:local', orgId }, xff)).data.allowed).toBe(true);
  });

  it('env.time is the server clock', async () => {
    const deadline = new Date(t.clock.nowMs() + 3600_000).toISOString();
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'until deadline', effect: 'allow', actions: ['time:read'], condition: { lt: [v('env.time'), deadline] } });
    expect((await authorize(t.app, member.accessToken, { action: 'time:read', orgId })).data.allowed).toBe(true);
    t.clock.advance(2 * 3600_000);
    const fresh = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: member.email, password: member.password } });
    expect((await authorize(t.app, fresh.data.tokens.accessToken, { action: 'time:read', orgId })).data.allowed).toBe(false);
    member = { ...member, accessToken: fresh.data.tokens.accessToken };
    owner = { ...owner, accessToken: (await call(t.app, { method: 'POST', url: '/auth/login', json: { email: owner.email, password: owner.password } })).data.tokens.accessToken };
  });

  it('an org the subject is not a member of is denied, like an unknown one', async () => {
    const other = await createOrg(t.app, owner.accessToken, 'Other');
    const res = await authorize(t.app, member.accessToken, { action: 'org:read', orgId: other.id });
    expect(res.statusCode).toBe(200);
    expect(res.data).toEqual({ allowed: false, reason: 'the subject is not a member of the organization' });
    const perms = await call(t.app, { method: 'POST', url: '/auth/permissions', token: member.accessToken, json: { orgId: other.id } });
    expect(perms.statusCode).toBe(404);
  });
});

describe('§D-14 resource attributes and subjectId need a resource server', () => {
  it('a user token may not send resource.attributes (400) nor ask about someone else (403)', async () => {
    const attrs = await authorize(t.app, member.accessToken, { action: 'doc:read', orgId, resource: { type: 'doc', id: '1', attributes: { owner: member.userId } } });
    expect(attrs.statusCode).toBe(400);
    expect(attrs.data.details[0].path).toBe('body.resource.attributes');
    const other = await authorize(t.app, member.accessToken, { action: 'org:read', orgId, subjectId: owner.userId });
    expect(other.statusCode).toBe(403);
    const self = await authorize(t.app, member.accessToken, { action: 'org:read', orgId, subjectId: member.userId });
    expect(self.data.allowed).toBe(true);
  });

  it('an API key needs the authz:check scope by name — the sign-up key\'s "*" is not enough', async () => {
    const star = await apiKey(t.app, owner.accessToken, ['*']);
    expect((await authorize(t.app, star, { action: 'org:read', orgId, subjectId: member.userId })).statusCode).toBe(403);
    expect((await authorize(t.app, star, { action: 'doc:read', orgId, resource: { type: 'doc', attributes: { a: 1 } } })).statusCode).toBe(400);
    const rs = await apiKey(t.app, owner.accessToken, ['authz:check']);
    const res = await authorize(t.app, rs, { action: 'org:read', orgId, subjectId: member.userId });
    expect(res.data).toEqual({ allowed: true, reason: 'granted by role permission "org:read"' });
    // The subject's own roles decide, not the resource server's (the owner's "*" would allow this).
    expect((await authorize(t.app, rs, { action: 'org:delete', orgId, subjectId: member.userId })).data.allowed).toBe(false);
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'own docs', effect: 'allow', actions: ['doc:edit'], condition: { eq: [v('resource.attributes.owner'), v('subject.id')] } });
    const own = await authorize(t.app, rs, { action: 'doc:edit', orgId, subjectId: member.userId, resource: { type: 'doc', id: '9', attributes: { owner: member.userId } } });
    expect(own.data.allowed).toBe(true);
  });
});

describe('subjectId needs authz:check in the organization, not only on the key', () => {
  it('a plain member\'s authz:check key may not read another member\'s decisions; a custom role granting authz:check may', async () => {
    const memberKey = await apiKey(t.app, member.accessToken, ['authz:check']);
    const probe = await authorize(t.app, memberKey, { action: 'org:read', orgId, subjectId: owner.userId });
    expect(probe.statusCode).toBe(403);
    expect(probe.data.error).toBe('forbidden');
    // The owner makes the member a service account holding authz:check through a custom role.
    const role = await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/roles`, token: owner.accessToken, json: { name: 'authz-checker', permissions: ['authz:check'] } });
    expect(role.statusCode, role.body).toBe(200);
    const patch = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${orgId}/members/${member.userId}`, token: owner.accessToken, json: { roles: ['member', 'authz-checker'] } });
    expect(patch.statusCode, patch.body).toBe(200);
    const allowed = await authorize(t.app, memberKey, { action: 'org:read', orgId, subjectId: owner.userId });
    expect(allowed.statusCode, allowed.body).toBe(200);
    expect(allowed.data.allowed).toBe(true);
  });
});

describe('KEY-05 an API key acting for its own user is held to its scopes', () => {
  it('the owner\'s "*" role narrowed by a key with assets:read', async () => {
    const key = await apiKey(t.app, owner.accessToken, ['assets:read']);
    expect((await authorize(t.app, key, { action: 'assets:read', orgId })).data).toEqual({ allowed: true, reason: 'granted by role permission "assets:read"' });
    expect((await authorize(t.app, key, { action: 'assets:write', orgId })).data.allowed).toBe(false);
    expect((await authorize(t.app, key, { action: 'org:delete', orgId })).data.allowed).toBe(false);
    // An allow policy does not widen the key either.
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'everyone writes reports', effect: 'allow', actions: ['reports:write'] });
    const viaPolicy = await authorize(t.app, key, { action: 'reports:write', orgId });
    expect(viaPolicy.data).toEqual({ allowed: false, reason: 'the API key\'s scopes do not include "reports:write"' });
    const perms = await call(t.app, { method: 'POST', url: '/auth/permissions', token: key, json: { orgId } });
    expect(perms.data).toEqual({ orgId, roles: ['owner'], permissions: ['assets:read'] });
    // The org routes need orgs:read / orgs:write on a key.
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${orgId}`, token: key })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'POST', url: '/auth/orgs', token: key, json: { name: 'x' } })).statusCode).toBe(403);
  });

  it('a key bound to an org reaches that org only', async () => {
    const other = await createOrg(t.app, owner.accessToken, 'Elsewhere');
    const sw = await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/switch`, token: owner.accessToken });
    const bound = await apiKey(t.app, sw.data.tokens.accessToken, ['orgs:read', 'docs:*'], orgId);
    expect((await authorize(t.app, bound, { action: 'docs:read' })).data.allowed).toBe(true);
    expect((await authorize(t.app, bound, { action: 'docs:read', orgId: other.id })).data).toEqual({ allowed: false, reason: 'the API key is bound to another organization' });
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${other.id}`, token: bound })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${orgId}`, token: bound })).statusCode).toBe(200);
    const list = await call(t.app, { method: 'GET', url: '/auth/orgs', token: bound });
    expect(list.data.items.map((o: { id: string }) => o.id)).toEqual([orgId]);
    expect((await call(t.app, { method: 'POST', url: '/auth/permissions', token: bound, json: { orgId: other.id } })).statusCode).toBe(404);
  });
});
