import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits, type SignedIn } from '../helpers/identity.js';
import { addPolicy, apiKey, authorize, createOrg, join, rows, user } from '../integration/orgs/org-helpers.js';

/**
 * SECURITY AZ-05 and §D-12: decision semantics through HTTP (deny overrides, role grants, allow policies,
 * nested conditions over subject / resource / env, missing attributes as indeterminate) and validation of
 * policies on write.
 */
let t: TestApp;
let owner: SignedIn;
let subject: SignedIn;
let orgId: string;
let rs: string; // a resource server's key (authz:check) asking about `subject`

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  owner = await user(t, { prefix: 'owner' });
  subject = await user(t, { prefix: 'subject' });
  orgId = (await createOrg(t.app, owner.accessToken)).id;
  await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/roles`, token: owner.accessToken, json: { name: 'editor', permissions: ['granted:*'] } });
  await join(t.app, owner.accessToken, orgId, subject, ['member', 'editor']);
  const p = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${orgId}/members/${subject.userId}`, token: owner.accessToken,
    json: { attributes: { dept: 'eng', level: 3, tags: ['a', 'b'] } } });
  expect(p.statusCode, p.body).toBe(200);
  rs = await apiKey(t.app, owner.accessToken, ['authz:check']);
});
afterAll(async () => { await t?.close(); });

const v = (path: string) => ({ var: path });
type P = { effect: 'allow' | 'deny'; condition?: unknown; resources?: string[] };
type Case = {
  name: string;
  action: string;
  policies: P[];
  resource?: Record<string, unknown>;
  expect: { allowed: boolean; reason: RegExp; policy?: number };
};

// Each case has its own action, so the policies of one case never apply to another. `granted:*` actions
// are granted by the subject's custom role "editor".
const CASES: Case[] = [
  { name: 'deny overrides a role grant', action: 'granted:c1', policies: [{ effect: 'deny' }],
    expect: { allowed: false, reason: /^denied by policy/, policy: 0 } },
  { name: 'deny overrides an allow policy', action: 'c2:read', policies: [{ effect: 'allow' }, { effect: 'deny', condition: { eq: [v('subject.attributes.dept'), 'eng'] } }],
    expect: { allowed: false, reason: /^denied by policy/, policy: 1 } },
  { name: 'a deny whose condition is false does not apply', action: 'granted:c3', policies: [{ effect: 'deny', condition: { eq: [v('subject.attributes.dept'), 'sales'] } }],
    expect: { allowed: true, reason: /^granted by role permission "granted:\*"/ } },
  { name: 'nested and/or/not: true', action: 'c4:read', policies: [{ effect: 'allow', condition: { and: [
    { or: [{ eq: [v('subject.attributes.dept'), 'sales'] }, { in: ['b', v('subject.attributes.tags')] }] },
    { not: { lt: [v('subject.attributes.level'), 2] } }] } }],
    expect: { allowed: true, reason: /^allowed by policy/, policy: 0 } },
  { name: 'nested and/or/not: false', action: 'c5:read', policies: [{ effect: 'allow', condition: { and: [
    { or: [{ eq: [v('subject.attributes.dept'), 'sales'] }, { in: ['b', v('subject.attributes.tags')] }] },
    { not: { lt: [v('subject.attributes.level'), 5] } }] } }],
    expect: { allowed: false, reason: /^no role or policy grants/ } },
  { name: 'subject.roles holds the member\'s current roles', action: 'c6:read', policies: [{ effect: 'allow', condition: { in: ['editor', v('subject.roles')] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'subject.email and subject.id come from the server', action: 'c7:read', policies: [{ effect: 'allow', condition: { and: [
    { eq: [v('subject.email'), '$EMAIL'] }, { eq: [v('subject.id'), '$ID'] }] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'resource type and id', action: 'c8:read', resource: { type: 'doc', id: '42' }, policies: [{ effect: 'allow', resources: ['doc:*'], condition: { eq: [v('resource.id'), '42'] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'resource id that does not match', action: 'c9:read', resource: { type: 'doc', id: '43' }, policies: [{ effect: 'allow', resources: ['doc:*'], condition: { eq: [v('resource.id'), '42'] } }],
    expect: { allowed: false, reason: /^no role or policy grants/ } },
  { name: 'owner-only: resource.attributes.owner = subject.id', action: 'c10:write', resource: { type: 'doc', id: '1', attributes: { owner: '$ID' } },
    policies: [{ effect: 'allow', condition: { eq: [v('resource.attributes.owner'), v('subject.id')] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'owner-only for someone else\'s resource', action: 'c11:write', resource: { type: 'doc', id: '1', attributes: { owner: 'someone' } },
    policies: [{ effect: 'allow', condition: { eq: [v('resource.attributes.owner'), v('subject.id')] } }],
    expect: { allowed: false, reason: /^no role or policy grants/ } },
  { name: 'env.time is the server clock (past deadline)', action: 'c12:read', policies: [{ effect: 'allow', condition: { lt: [v('env.time'), '2000-01-01T00:00:00Z'] } }],
    expect: { allowed: false, reason: /^no role/ } },
  { name: 'env.time is the server clock (after start)', action: 'c13:read', policies: [{ effect: 'allow', condition: { gte: [v('env.time'), '2000-01-01T00:00:00Z'] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'env.ip is the client address', action: 'c14:read', policies: [{ effect: 'allow', condition: { eq: [v('env.ip'), '127.0.0.1'] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'missing attribute: an allow fails closed', action: 'c15:read', policies: [{ effect: 'allow', condition: { eq: [v('resource.attributes.clearance'), 'top'] } }],
    expect: { allowed: false, reason: /^no role or policy grants/ } },
  { name: 'missing attribute: a deny matches', action: 'granted:c16', policies: [{ effect: 'deny', condition: { eq: [v('subject.attributes.clearance'), 'none'] } }],
    expect: { allowed: false, reason: /^denied by policy/, policy: 0 } },
  { name: 'missing attribute: not cannot flip it into an allow', action: 'c17:read', resource: { type: 'doc', id: '1' },
    policies: [{ effect: 'allow', condition: { not: { eq: [v('resource.attributes.owner'), 'x'] } } }],
    expect: { allowed: false, reason: /^no role or policy grants/ } },
  { name: 'missing attribute in one or-branch: a true branch still allows', action: 'c18:read', policies: [{ effect: 'allow', condition: { or: [
    { eq: [v('subject.attributes.clearance'), 'top'] }, { eq: [v('subject.attributes.dept'), 'eng'] }] } }],
    expect: { allowed: true, reason: /^allowed/, policy: 0 } },
  { name: 'incomparable values never throw: an object against a number', action: 'c19:read', resource: { type: 'doc', attributes: { size: { a: 1 } } },
    policies: [{ effect: 'allow', condition: { gt: [v('resource.attributes.size'), 5] } }],
    expect: { allowed: false, reason: /^no role/ } },
  { name: 'a deny scoped to another resource type does not apply', action: 'granted:c20', resource: { type: 'doc', id: '1' }, policies: [{ effect: 'deny', resources: ['secret:*'] }],
    expect: { allowed: true, reason: /^granted/ } },
  { name: 'no grant and no policy is a deny with a reason', action: 'c21:read', policies: [],
    expect: { allowed: false, reason: /^no role or policy grants "c21:read"$/ } },
];

const fill = (x: unknown): unknown => JSON.parse(JSON.stringify(x).replaceAll('$EMAIL', subject.email).replaceAll('$ID', subject.userId));
let n = 0;

describe('AZ-05 decisions through POST /auth/authorize', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ids: string[] = [];
      for (const p of c.policies) {
        ids.push((await addPolicy(t.app, owner.accessToken, orgId, { name: `${c.action} ${++n}`, actions: [c.action], ...(fill(p) as object) })).id);
      }
      const res = await authorize(t.app, rs, { action: c.action, orgId, subjectId: subject.userId, ...(c.resource ? { resource: fill(c.resource) } : {}) });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.data.allowed).toBe(c.expect.allowed);
      expect(res.data.reason).toMatch(c.expect.reason);
      expect(res.data.policyId).toBe(c.expect.policy === undefined ? undefined : ids[c.expect.policy]);
    });
  }

  it('a deeply nested attribute value is answered, not thrown on', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 60; i++) deep = { d: deep };
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'deep', actions: ['deep:read'], effect: 'allow', condition: { eq: [v('resource.attributes.x'), v('resource.attributes.x')] } });
    const res = await authorize(t.app, rs, { action: 'deep:read', orgId, subjectId: subject.userId, resource: { type: 'doc', attributes: { x: deep } } });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('property: an applicable deny whose condition holds or reads a missing attribute always wins', async () => {
    // Conditions by index: 0 none (true), 1 true, 2 false, 3 and 4 read a missing attribute (indeterminate).
    const conds = [undefined, { eq: [v('subject.attributes.dept'), 'eng'] }, { eq: [v('subject.attributes.dept'), 'sales'] },
      { eq: [v('subject.attributes.missing'), 1] }, { not: { eq: [v('subject.attributes.missing'), 1] } }];
    let run = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ effect: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'), cond: fc.nat(4) }), { maxLength: 4 }),
      fc.nat(3), fc.boolean(), fc.nat(4),
      async (others, denyCond, roleGrant, denyAt) => {
        const action = roleGrant ? `granted:prop${++run}` : `prop${++run}:go`;
        const list = others.map((o) => ({ effect: o.effect, cond: o.cond }));
        // The deny under test: its condition is true or indeterminate, never false.
        list.splice(Math.min(denyAt, list.length), 0, { effect: 'deny', cond: [0, 1, 3, 4][denyCond]! });
        const denyIds: string[] = [];
        for (const [i, p] of list.entries()) {
          const condition = conds[p.cond];
          const made = await addPolicy(t.app, owner.accessToken, orgId, { name: `${action} ${i}`, effect: p.effect, actions: [action], ...(condition ? { condition } : {}) });
          if (p.effect === 'deny' && p.cond !== 2) denyIds.push(made.id);
        }
        const res = await authorize(t.app, rs, { action, orgId, subjectId: subject.userId });
        expect(res.statusCode).toBe(200);
        expect(res.data.allowed).toBe(false);
        // The first applicable deny in creation order is the one reported.
        expect(res.data.policyId).toBe(denyIds[0]);
      },
    ), { numRuns: 25 });
  });
});

describe('AZ-05 policies are validated on write', () => {
  const post = (json: unknown) => call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/policies`, token: owner.accessToken, json });
  const base = { name: 'bad', effect: 'allow', actions: ['assets:read'] };

  it('refuses bad trees with a 400 naming the problem and its path, and stores nothing', async () => {
    const before = await rows(t, 'org_policies', orgId);
    let nested: unknown = { eq: [1, 1] };
    for (let i = 0; i < 20; i++) nested = { not: nested };
    const cases: [string, unknown, RegExp][] = [
      ['unknown operator', { foo: [1, 2] }, /unknown operator "foo"/],
      ['wrong arity', { eq: [1] }, /takes exactly 2 operands/],
      ['unknown root', { eq: [v('user.id'), 1] }, /unknown root "user"/],
      ['unknown path', { eq: [v('subject.password'), 1] }, /unknown path/],
      ['depth over the limit', nested, /nested deeper than 16/],
      ['an empty and', { and: [] }, /non-empty array/],
      ['two operators in one node', { eq: [1, 1], ne: [1, 2] }, /exactly one operator/],
      ['a huge in array', { in: [v('subject.id'), Array.from({ length: 100_000 }, (_, i) => i)] }, /more than 256 items/],
    ];
    for (const [name, condition, message] of cases) {
      const res = await post({ ...base, condition });
      expect(res.statusCode, name).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.details.map((d: { message: string }) => d.message).join('\n'), name).toMatch(message);
      expect(res.data.details[0].path, name).toMatch(/^body\.condition/);
    }
    // 10,000 nested "not" nodes, as raw JSON text.
    const huge = `{"name":"bad","effect":"allow","actions":["assets:read"],"condition":${'{"not":'.repeat(10_000)}{"eq":[1,1]}${'}'.repeat(10_000)}}`;
    const deep = await call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/policies`, token: owner.accessToken, payload: huge, headers: { 'content-type': 'application/json' } });
    expect(deep.statusCode).toBe(400);
    for (const json of [
      { ...base, actions: ['members:write'] },
      { ...base, actions: ['org:*'] },
      { ...base, actions: ['Assets:Read'] },
      { ...base, actions: [] },
      { ...base, effect: 'maybe' },
      { ...base, resources: ['doc:1 2'] },
      { ...base, orgId },
      { ...base, name: '' },
    ]) {
      expect((await post(json)).statusCode, JSON.stringify(json)).toBe(400);
    }
    expect(await rows(t, 'org_policies', orgId)).toBe(before);
    const health = await call(t.app, { method: 'GET', url: '/auth/health' });
    expect(health.statusCode).toBe(200);
  });

  it('a duplicate name is a 409', async () => {
    await addPolicy(t.app, owner.accessToken, orgId, { name: 'Unique', effect: 'deny', actions: ['x:y'] });
    expect((await post({ name: 'unique', effect: 'deny', actions: ['x:z'] })).statusCode).toBe(409);
  });
});
