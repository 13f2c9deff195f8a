import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, validateCondition, type Condition, type EvalContext } from './condition.js';
import { decide, policyApplies, type DecideInput, type Policy } from './decide.js';

const subject: EvalContext['subject'] = {
  id: 'u1',
  email: 'ada@example.com',
  roles: ['editor'],
  attributes: { dept: 'eng', level: 3 },
};
const env = { time: '2025-06-01T12:00:00Z', ip: '10.0.0.1' };
const asset = { type: 'asset', id: '42', attributes: { owner: { id: 'u1' }, dept: 'eng', classification: 'public' } };

const v = (path: string) => ({ var: path });
const MISSING: Condition = { eq: [v('subject.attributes.clearance'), 'top'] };
const TRUE: Condition = { eq: [v('subject.attributes.dept'), 'eng'] };
const FALSE: Condition = { eq: [v('subject.attributes.dept'), 'sales'] };

let nextId = 0;
const policy = (p: Partial<Policy> & Pick<Policy, 'effect'>): Policy => {
  const id = p.id ?? `p${++nextId}`;
  return { id, name: p.name ?? id, actions: ['assets:read'], ...p };
};
const input = (overrides: Partial<DecideInput> = {}): DecideInput => ({
  action: 'assets:read', resource: asset, subject, env, rolePermissions: [], policies: [], ...overrides,
});

describe('decide', () => {
  type Case = [string, Partial<DecideInput>, { allowed: boolean; reason: string | RegExp; policyId?: string }];
  it.each<Case>([
    ['no grants → denied', {}, { allowed: false, reason: 'no role or policy grants "assets:read"' }],
    ['role permission → allowed', { rolePermissions: ['users:read', 'assets:*'] },
      { allowed: true, reason: 'granted by role permission "assets:*"' }],
    ['deny overrides role permission', { rolePermissions: ['*'], policies: [policy({ id: 'd', name: 'No reads', effect: 'deny' })] },
      { allowed: false, reason: 'denied by policy "No reads"', policyId: 'd' }],
    ['deny overrides allow policy', { policies: [policy({ id: 'a', effect: 'allow' }), policy({ id: 'd', name: 'D', effect: 'deny', condition: TRUE })] },
      { allowed: false, reason: 'denied by policy "D"', policyId: 'd' }],
    ['deny with false condition does not deny', { rolePermissions: ['assets:read'], policies: [policy({ effect: 'deny', condition: FALSE })] },
      { allowed: true, reason: /^granted by role permission/ }],
    ['deny with missing attribute fails closed', { rolePermissions: ['assets:read'], policies: [policy({ id: 'd', name: 'D', effect: 'deny', condition: MISSING })] },
      { allowed: false, reason: 'denied by policy "D"', policyId: 'd' }],
    ['allow with missing attribute does not match', { policies: [policy({ effect: 'allow', condition: MISSING })] },
      { allowed: false, reason: /^no role or policy grants/ }],
    ['not cannot flip a missing attribute into an allow', { policies: [policy({ effect: 'allow', condition: { not: MISSING } })] },
      { allowed: false, reason: /^no role or policy grants/ }],
    ['or with a true branch still allows despite a missing one', { policies: [policy({ id: 'a', name: 'A', effect: 'allow', condition: { or: [MISSING, TRUE] } })] },
      { allowed: true, reason: 'allowed by policy "A"', policyId: 'a' }],
    ['allow policy without condition', { policies: [policy({ id: 'a', name: 'Readers', effect: 'allow' })] },
      { allowed: true, reason: 'allowed by policy "Readers"', policyId: 'a' }],
    ['owner-only allow', { policies: [policy({ id: 'own', effect: 'allow', condition: { eq: [v('resource.attributes.owner.id'), v('subject.id')] } })] },
      { allowed: true, reason: /allowed by policy/, policyId: 'own' }],
    ['owner-only allow for someone else', { subject: { ...subject, id: 'u2' }, policies: [policy({ effect: 'allow', condition: { eq: [v('resource.attributes.owner.id'), v('subject.id')] } })] },
      { allowed: false, reason: /^no role or policy grants/ }],
    ['role grant beats a non-matching allow; reason names the role', { rolePermissions: ['*:read'], policies: [policy({ effect: 'allow' })] },
      { allowed: true, reason: 'granted by role permission "*:read"' }],
    ['first applicable deny in order is reported', { policies: [policy({ id: 'x', effect: 'deny', actions: ['users:*'] }), policy({ id: 'd1', name: 'one', effect: 'deny' }), policy({ id: 'd2', name: 'two', effect: 'deny' })] },
      { allowed: false, reason: 'denied by policy "one"', policyId: 'd1' }],
    ['deny for another action does not apply', { rolePermissions: ['assets:read'], policies: [policy({ effect: 'deny', actions: ['assets:write'] })] },
      { allowed: true, reason: /^granted/ }],
    ['resource-scoped allow matches "asset:*"', { policies: [policy({ id: 'a', effect: 'allow', resources: ['doc:*', 'asset:*'] })] },
      { allowed: true, reason: /allowed by policy/, policyId: 'a' }],
    ['resource-scoped allow for another id', { policies: [policy({ effect: 'allow', resources: ['asset:41'] })] },
      { allowed: false, reason: /^no role/ }],
    ['resource-scoped deny for another type does not apply', { rolePermissions: ['*'], policies: [policy({ effect: 'deny', resources: ['doc:*'] })] },
      { allowed: true, reason: /^granted/ }],
    ['scoped policy does not apply without a resource', { resource: undefined, policies: [policy({ effect: 'allow', resources: ['*'] })] },
      { allowed: false, reason: /^no role/ }],
    ['unscoped policy applies without a resource', { resource: undefined, policies: [policy({ id: 'a', effect: 'allow' })] },
      { allowed: true, reason: /allowed by policy/, policyId: 'a' }],
    ['resource without id matches "asset:*" but not "asset:42"', { resource: { type: 'asset' }, policies: [policy({ effect: 'allow', resources: ['asset:42'] }), policy({ id: 'a', effect: 'allow', resources: ['asset:*'] })] },
      { allowed: true, reason: /allowed by policy/, policyId: 'a' }],
    ['empty resources list applies to nothing', { rolePermissions: ['*'], policies: [policy({ effect: 'deny', resources: [] })] },
      { allowed: true, reason: /^granted/ }],
    ['deny outside business hours (env.time)', { rolePermissions: ['*'], policies: [policy({ id: 'h', name: 'hours', effect: 'deny', condition: { or: [{ lt: [v('env.time'), '2025-06-01T09:00:00+02:00'] }, { gte: [v('env.time'), '2025-06-01T14:00:00+02:00'] }] } })] },
      { allowed: false, reason: 'denied by policy "hours"', policyId: 'h' }],
    ['allow before expiry (env.time)', { policies: [policy({ id: 'e', effect: 'allow', condition: { lt: [v('env.time'), '2025-06-02'] } })] },
      { allowed: true, reason: /allowed/, policyId: 'e' }],
    ['allow after expiry (env.time)', { policies: [policy({ effect: 'allow', condition: { lt: [v('env.time'), '2025-06-01T11:59:59Z'] } })] },
      { allowed: false, reason: /^no role/ }],
    ['nested and/or/not deny', { rolePermissions: ['*'], policies: [policy({ id: 'n', effect: 'deny', condition: { and: [{ not: { eq: [v('resource.attributes.classification'), 'secret'] } }, { or: [FALSE, { in: ['editor', v('subject.roles')] }] }] } })] },
      { allowed: false, reason: /denied/, policyId: 'n' }],
    ['malformed stored condition on a deny fails closed', { rolePermissions: ['*'], policies: [policy({ id: 'bad', effect: 'deny', condition: { bogus: 1 } as unknown as Condition })] },
      { allowed: false, reason: /denied/, policyId: 'bad' }],
  ])('%s', (_name, overrides, expected) => {
    for (const p of overrides.policies ?? []) if (p.condition) expect(p.id === 'bad' || validateCondition(p.condition).ok).toBe(true);
    const result = decide(input(overrides));
    const reason = typeof expected.reason === 'string' ? expected.reason : expect.stringMatching(expected.reason);
    expect(result).toEqual({ ...expected, reason });
    if (!('policyId' in expected)) expect(result).not.toHaveProperty('policyId');
  });

  it('is deterministic for the same input', () => {
    const i = input({ policies: [policy({ effect: 'allow' }), policy({ effect: 'allow' })] });
    expect(decide(i)).toEqual(decide(i));
  });
});

// Generators for the properties: small vocabularies so policies often apply and conditions often hit facts.
const actionArb = fc.constantFrom('assets:read', 'assets:write', 'users:read');
const patternArb = fc.constantFrom('*', 'assets:*', '*:read', 'assets:read', 'assets:write', 'users:read', 'users:*');
const resourceArb = fc.option(
  fc.record({ type: fc.constantFrom('asset', 'doc'), id: fc.option(fc.constantFrom('1', '2'), { nil: undefined }) }),
  { nil: undefined },
);
const resourcePatternArb = fc.constantFrom('*', 'asset:*', 'asset:1', 'doc:*', 'doc:2');
const operandArb = fc.oneof(
  fc.constantFrom('eng', 'sales', 3, 5, true, null, 'asset', '2025-06-01T12:00:00Z', '2025-06-01', ['eng', 3]),
  fc.constantFrom('subject.id', 'subject.roles', 'subject.attributes.dept', 'subject.attributes.level',
    'subject.attributes.missing', 'resource.type', 'resource.id', 'resource.attributes.x', 'env.time').map(v),
);
const { condition: conditionArb } = fc.letrec<{ condition: Condition }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ op: fc.constantFrom('eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in'), a: operandArb, b: operandArb })
      .map(({ op, a, b }) => ({ [op]: [a, b] }) as Condition),
    fc.array(tie('condition'), { minLength: 1, maxLength: 3 }).map((c) => ({ and: c })),
    fc.array(tie('condition'), { minLength: 1, maxLength: 3 }).map((c) => ({ or: c })),
    tie('condition').map((c) => ({ not: c })),
  ),
}));
const policyArb = (effect?: Policy['effect']) => fc.record({
  id: fc.uuid(),
  name: fc.string({ maxLength: 8 }),
  effect: effect ? fc.constant(effect) : fc.constantFrom<Policy['effect']>('allow', 'deny'),
  actions: fc.array(patternArb, { maxLength: 3 }),
  resources: fc.option(fc.array(resourcePatternArb, { maxLength: 2 }), { nil: undefined }),
  condition: fc.option(conditionArb, { nil: null }),
});
const inputArb = fc.record({
  action: actionArb,
  resource: resourceArb,
  subject: fc.constant(subject),
  env: fc.constant(env),
  rolePermissions: fc.array(patternArb, { maxLength: 3 }),
  policies: fc.array(policyArb(), { maxLength: 6 }),
});
const insertAt = <T>(items: T[], item: T, at: number): T[] => [...items.slice(0, at % (items.length + 1)), item, ...items.slice(at % (items.length + 1))];

describe('decide properties', () => {
  it('generated conditions are valid', () => {
    fc.assert(fc.property(conditionArb, (c) => {
      expect(validateCondition(c).ok).toBe(true);
    }));
  });

  it('an applicable deny whose condition is true always denies', () => {
    let exercised = 0;
    fc.assert(
      fc.property(inputArb, (i) => {
        const ctx: EvalContext = { subject: i.subject, env: i.env, ...(i.resource ? { resource: i.resource } : {}) };
        const matchingDeny = i.policies.some((p) => p.effect === 'deny' && policyApplies(p, i.action, i.resource) &&
          (!p.condition || evaluate(p.condition, ctx) === 'true'));
        if (!matchingDeny) return;
        exercised++;
        expect(decide(i).allowed).toBe(false);
      }),
      { numRuns: 1000 },
    );
    expect(exercised).toBeGreaterThan(50);
  });

  it('an inserted catch-all deny denies unless its condition is false', () => {
    fc.assert(
      fc.property(inputArb, policyArb('deny'), fc.nat(), (i, deny, at) => {
        const catchAll: Policy = { ...deny, actions: ['*'], resources: null };
        const result = decide({ ...i, policies: insertAt(i.policies, catchAll, at) });
        const ctx: EvalContext = { subject: i.subject, env: i.env, ...(i.resource ? { resource: i.resource } : {}) };
        if (!catchAll.condition || evaluate(catchAll.condition, ctx) !== 'false') expect(result.allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('adding an allow policy never turns an allowed decision into denied', () => {
    fc.assert(
      fc.property(inputArb, policyArb('allow'), fc.nat(), (i, allow, at) => {
        const before = decide(i);
        const after = decide({ ...i, policies: insertAt(i.policies, allow, at) });
        if (before.allowed) expect(after.allowed).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('adding a deny policy never turns a denied decision into allowed', () => {
    fc.assert(
      fc.property(inputArb, policyArb('deny'), fc.nat(), (i, deny, at) => {
        if (!decide(i).allowed) expect(decide({ ...i, policies: insertAt(i.policies, deny, at) }).allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('answers exactly as a plain evaluation of every policy, with plans and guards reused across decisions', () => {
    // The reference: no plans, no memos, no guards; each condition evaluated from its tree.
    const reference = (i: DecideInput): { allowed: boolean; policyId?: string } => {
      const ctx: EvalContext = { subject: i.subject, env: i.env, ...(i.resource ? { resource: i.resource } : {}) };
      const applicable = i.policies.filter((p) => policyApplies(p, i.action, i.resource));
      const truth = (p: Policy) => (p.condition === null || p.condition === undefined ? 'true' : evaluate(p.condition, ctx));
      const deny = applicable.find((p) => p.effect === 'deny' && truth(p) !== 'false');
      if (deny) return { allowed: false, policyId: deny.id };
      if (i.rolePermissions.some((r) => policyApplies({ id: '', name: '', effect: 'allow', actions: [r] }, i.action))) return { allowed: true };
      const allow = applicable.find((p) => p.effect === 'allow' && truth(p) === 'true');
      return allow ? { allowed: true, policyId: allow.id } : { allowed: false };
    };
    // Conditions led by `eq(var, scalar)`, the shape a guard is taken from, mixed with arbitrary ones.
    const guardedArb = fc.record({
      path: fc.constantFrom('subject.attributes.dept', 'subject.attributes.level', 'subject.attributes.missing', 'resource.type', 'subject.id'),
      literal: fc.constantFrom('eng', 'sales', 3, 5, true, null, 'asset', 'u1'),
      flipped: fc.boolean(),
      rest: fc.option(conditionArb, { nil: undefined }),
    }).map(({ path, literal, flipped, rest }): Condition => {
      const test = { eq: flipped ? [literal, v(path)] : [v(path), literal] } as Condition;
      return rest === undefined ? test : { and: [test, rest] };
    });
    const mixedPolicyArb = fc.record({
      id: fc.uuid(),
      name: fc.string({ maxLength: 8 }),
      effect: fc.constantFrom<Policy['effect']>('allow', 'deny'),
      actions: fc.array(patternArb, { minLength: 1, maxLength: 3 }),
      resources: fc.option(fc.array(resourcePatternArb, { maxLength: 2 }), { nil: undefined }),
      condition: fc.oneof(guardedArb, guardedArb, fc.option(conditionArb, { nil: null })),
    });
    const subjects = fc.constantFrom(subject, { ...subject, attributes: { dept: 'sales', level: 5 } }, { ...subject, id: 'u2', attributes: {} });
    fc.assert(
      fc.property(inputArb, fc.array(mixedPolicyArb, { maxLength: 8 }), fc.array(fc.tuple(subjects, actionArb, resourceArb), { minLength: 1, maxLength: 4 }),
        (i, policies, asks) => {
          for (const [s, action, resource] of asks) {
            const ask = { ...i, policies, subject: s, action, resource };
            const got = decide(ask);
            const want = reference(ask);
            expect({ allowed: got.allowed, policyId: got.policyId }).toEqual(want);
          }
        }),
      { numRuns: 1000 },
    );
  });

  it('never throws', () => {
    fc.assert(fc.property(inputArb, (i) => {
      expect(typeof decide(i).allowed).toBe('boolean');
    }), { numRuns: 500 });
  });
});
