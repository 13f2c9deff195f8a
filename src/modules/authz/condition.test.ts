import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConditionSchema,
  MAX_CONDITION_DEPTH,
  MAX_CONDITION_NODES,
  evaluate,
  validateCondition,
  type Condition,
  type EvalContext,
} from './condition.js';

const ctx: EvalContext = {
  subject: {
    id: 'u1',
    email: 'ada@example.com',
    roles: ['editor', 'viewer'],
    attributes: { dept: 'eng', level: 3, tags: ['a', 'b'], manager: { id: 'u9' }, active: true, nothing: null },
  },
  resource: { type: 'asset', id: '42', attributes: { owner: { id: 'u1' }, dept: 'eng', size: 10, expiresAt: '2030-01-01T00:00:00Z' } },
  env: { time: '2025-06-01T12:00:00Z', ip: '10.0.0.1' },
};

const v = (path: string) => ({ var: path });
const ev = (c: unknown, c2: EvalContext = ctx) => evaluate(c as Condition, c2);

describe('evaluate', () => {
  it.each<[string, unknown, string]>([
    ['eq on subject.id', { eq: [v('subject.id'), 'u1'] }, 'true'],
    ['eq on subject.email', { eq: [v('subject.email'), 'ada@example.com'] }, 'true'],
    ['role membership via in', { in: ['editor', v('subject.roles')] }, 'true'],
    ['deep array eq', { eq: [v('subject.roles'), ['editor', 'viewer']] }, 'true'],
    ['array order matters', { eq: [v('subject.roles'), ['viewer', 'editor']] }, 'false'],
    ['ne', { ne: [v('subject.attributes.dept'), 'sales'] }, 'true'],
    ['strict eq: no coercion', { eq: [v('subject.attributes.level'), '3'] }, 'false'],
    ['null attribute is present', { eq: [v('subject.attributes.nothing'), null] }, 'true'],
    ['nested attribute path', { eq: [v('resource.attributes.owner.id'), v('subject.id')] }, 'true'],
    ['var vs var objects deep-equal', { eq: [v('resource.attributes.owner'), { var: 'resource.attributes.owner' }] }, 'true'],
    ['resource.type', { eq: [v('resource.type'), 'asset'] }, 'true'],
    ['resource.id', { in: [v('resource.id'), ['41', '42']] }, 'true'],
    ['env.ip', { eq: [v('env.ip'), '10.0.0.1'] }, 'true'],
    ['number gt', { gt: [v('subject.attributes.level'), 2] }, 'true'],
    ['number lte', { lte: [v('resource.attributes.size'), 9] }, 'false'],
    ['string lt', { lt: ['abc', 'abd'] }, 'true'],
    ['type mismatch gt is false', { gt: [v('subject.attributes.level'), '2'] }, 'false'],
    ['type mismatch lt is false', { lt: [v('subject.attributes.level'), '2'] }, 'false'],
    ['boolean ordering is false', { gte: [true, false] }, 'false'],
    ['in with non-array b is false', { in: ['eng', v('subject.attributes.dept')] }, 'false'],
    ['env.time before expiry', { lt: [v('env.time'), v('resource.attributes.expiresAt')] }, 'true'],
    ['env.time vs literal, same instant other offset', { gte: [v('env.time'), '2025-06-01T14:00:00+02:00'] }, 'true'],
    ['env.time instant compare beats string compare', { lt: [v('env.time'), '2025-06-01T13:00:00+02:00'] }, 'false'],
    ['env.time vs date-only', { gt: [v('env.time'), '2025-06-01'] }, 'true'],
    ['non-ISO strings compare as strings', { gt: [v('env.time'), 'zzz'] }, 'false'],
    ['and all true', { and: [{ eq: [1, 1] }, { eq: [2, 2] }] }, 'true'],
    ['or one true', { or: [{ eq: [1, 2] }, { eq: [2, 2] }] }, 'true'],
    ['nested and/or/not', { and: [{ or: [{ eq: [v('subject.attributes.dept'), 'sales'] }, { in: ['editor', v('subject.roles')] }] }, { not: { eq: [v('resource.type'), 'secret'] } }] }, 'true'],
    ['double not', { not: { not: { eq: [1, 1] } } }, 'true'],
  ])('%s', (_name, condition, expected) => {
    expect(validateCondition(condition).ok).toBe(true);
    expect(ev(condition)).toBe(expected);
  });

  const missing = { eq: [v('subject.attributes.clearance'), 'top'] };
  it.each<[string, unknown, string]>([
    ['missing attribute', missing, 'indeterminate'],
    ['missing on right side', { eq: ['top', v('resource.attributes.clearance')] }, 'indeterminate'],
    ['not cannot flip missing', { not: missing }, 'indeterminate'],
    ['ne on missing', { ne: [v('subject.attributes.clearance'), 'top'] }, 'indeterminate'],
    ['and: false dominates', { and: [missing, { eq: [1, 2] }] }, 'false'],
    ['and: indeterminate over true', { and: [missing, { eq: [1, 1] }] }, 'indeterminate'],
    ['or: true dominates', { or: [missing, { eq: [1, 1] }] }, 'true'],
    ['or: indeterminate over false', { or: [missing, { eq: [1, 2] }] }, 'indeterminate'],
    ['path through a scalar', { eq: [v('subject.attributes.dept.x'), 1] }, 'indeterminate'],
    ['no index into arrays', { eq: [v('subject.attributes.tags.length'), 2] }, 'indeterminate'],
    ['no prototype chain', { eq: [v('subject.attributes.toString'), 1] }, 'indeterminate'],
  ])('%s → %s', (_name, condition, expected) => {
    expect(ev(condition)).toBe(expected);
  });

  it('treats resource paths as missing when no resource is given', () => {
    const { resource: _omit, ...noResource } = ctx;
    expect(ev({ eq: [v('resource.type'), 'asset'] }, noResource)).toBe('indeterminate');
  });

  it('treats an undefined email as missing', () => {
    const noEmail = { ...ctx, subject: { ...ctx.subject, email: undefined } };
    expect(ev({ eq: [v('subject.email'), null] }, noEmail)).toBe('indeterminate');
  });

  it('does not read inherited properties even from attributes with a polluted prototype', () => {
    const attributes = Object.create({ isAdmin: true }) as Record<string, unknown>;
    const c2 = { ...ctx, subject: { ...ctx.subject, attributes } };
    expect(ev({ eq: [v('subject.attributes.isAdmin'), true] }, c2)).toBe('indeterminate');
  });

  it('answers indeterminate for forbidden paths and garbage instead of throwing', () => {
    expect(ev({ eq: [v('subject.attributes.__proto__'), 1] })).toBe('indeterminate');
    expect(ev({ eq: [v('subject.attributes.constructor'), 1] })).toBe('indeterminate');
    expect(ev(null)).toBe('indeterminate');
    expect(ev({ bogus: [1, 2] })).toBe('indeterminate');
    expect(evaluate({ eq: [1, 1] }, null as unknown as EvalContext)).toBe('true');
    expect(evaluate({ eq: [v('subject.id'), 1] }, null as unknown as EvalContext)).toBe('indeterminate');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const c2 = { ...ctx, subject: { ...ctx.subject, attributes: { a: cyclic, b: cyclic } } };
    expect(ev({ eq: [v('subject.attributes.a'), v('subject.attributes.b')] }, c2)).toBe('true');
    const other: Record<string, unknown> = {};
    other.self = other;
    const c3 = { ...ctx, subject: { ...ctx.subject, attributes: { a: cyclic, b: other } } };
    expect(ev({ eq: [v('subject.attributes.a'), v('subject.attributes.b')] }, c3)).toBe('indeterminate');
  });

  it('never throws on arbitrary JSON as condition or context (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (condition, context) => {
        const r1 = evaluate(condition as Condition, ctx);
        const r2 = evaluate(condition as Condition, context as EvalContext);
        for (const r of [r1, r2]) expect(['true', 'false', 'indeterminate']).toContain(r);
      }),
      { numRuns: 500 },
    );
  });
});

const nest = (depth: number): unknown => (depth <= 1 ? { eq: [1, 1] } : { not: nest(depth - 1) });

describe('validateCondition', () => {
  it.each<[string, unknown, string, RegExp]>([
    ['unknown operator', { and: [{ eq: [1, 1] }, { like: ['a', 'b'] }] }, 'condition.and[1].like', /unknown operator "like"/],
    ['comparison arity (1)', { and: [{ eq: [1, 1] }, { gt: [1] }] }, 'condition.and[1].gt', /exactly 2 operands/],
    ['comparison arity (3)', { eq: [1, 2, 3] }, 'condition.eq', /exactly 2 operands/],
    ['comparison not an array', { lt: 5 }, 'condition.lt', /exactly 2 operands/],
    ['empty and', { and: [] }, 'condition.and', /non-empty array/],
    ['or not an array', { or: { eq: [1, 1] } }, 'condition.or', /non-empty array/],
    ['not with an array', { not: [{ eq: [1, 1] }] }, 'condition.not', /exactly one condition object/],
    ['node with two keys', { or: [{ eq: [1, 1], ne: [1, 2] }] }, 'condition.or[0]', /exactly one operator key, got "eq", "ne"/],
    ['empty node', { not: {} }, 'condition.not', /exactly one operator key, got none/],
    ['condition not an object', { and: ['eq'] }, 'condition.and[0]', /expected a condition object/],
    ['root not an object', 'x', 'condition', /expected a condition object/],
    ['unknown root', { eq: [v('user.id'), 1] }, 'condition.eq[0].var', /unknown root "user"/],
    ['unknown path', { eq: [v('subject.name'), 1] }, 'condition.eq[0].var', /unknown path "subject.name"/],
    ['env has no attributes', { eq: [v('env.attributes.x'), 1] }, 'condition.eq[0].var', /unknown path/],
    ['attributes needs a key', { eq: [v('resource.attributes'), 1] }, 'condition.eq[0].var', /unknown path/],
    ['bad segment', { eq: [1, v('resource.attributes.a b')] }, 'condition.eq[1].var', /invalid path segment "a b"/],
    ['empty segment', { eq: [1, v('resource.attributes.a..b')] }, 'condition.eq[1].var', /invalid path segment ""/],
    ['var not a string', { eq: [{ var: 1 }, 1] }, 'condition.eq[0].var', /must be a string/],
    ['object operand', { eq: [{ var: 'subject.id', x: 1 }, 1] }, 'condition.eq[0]', /exactly \{"var"/],
    ['long string', { eq: [v('subject.id'), 'x'.repeat(1025)] }, 'condition.eq[1]', /longer than 1024/],
    ['long array', { in: ['a', Array.from({ length: 257 }, () => 'a')] }, 'condition.in[1]', /more than 256 items/],
    ['object in array literal', { in: ['a', ['a', { var: 'subject.id' }]] }, 'condition.in[1][1]', /expected a JSON literal/],
    ['too deep', nest(MAX_CONDITION_DEPTH + 1), `condition${'.not'.repeat(MAX_CONDITION_DEPTH)}`, /deeper than 16/],
    ['too many nodes', { or: Array.from({ length: 90 }, () => ({ eq: [1, 1] })) }, 'condition.or[85]', /more than 256 nodes/],
  ])('%s', (_name, input, path, message) => {
    const result = validateCondition(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it.each(['__proto__', 'prototype', 'constructor'])('refuses the %s segment anywhere in an attribute path', (seg) => {
    for (const path of [`subject.attributes.${seg}`, `resource.attributes.owner.${seg}.x`]) {
      const result = validateCondition({ eq: [v(path), 1] });
      expect(result).toEqual({ ok: false, errors: [{ path: 'condition.eq[0].var', message: `forbidden path segment "${seg}"` }] });
    }
  });

  it('refuses a JSON-parsed __proto__ operator key without polluting anything', () => {
    const result = validateCondition(JSON.parse('{"__proto__": {"polluted": [1, 1]}}'));
    expect(result.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts the limits exactly', () => {
    expect(validateCondition(nest(MAX_CONDITION_DEPTH)).ok).toBe(true);
    const nodes = { or: Array.from({ length: (MAX_CONDITION_NODES - 1) / 3 }, () => ({ eq: [1, 1] })) };
    expect(validateCondition(nodes).ok).toBe(true);
    expect(validateCondition({ in: ['a', Array.from({ length: 256 }, () => 'x'.repeat(1024))] }).ok).toBe(true);
  });

  it('accepts nested literal arrays and every documented path', () => {
    const paths = ['subject.id', 'subject.email', 'subject.roles', 'subject.attributes.a', 'resource.type', 'resource.id',
      'resource.attributes.owner.id', 'env.time', 'env.ip', 'subject.attributes.A-b_9'];
    for (const path of paths) expect(validateCondition({ eq: [v(path), [[1], null, true, 'x']] }).ok, path).toBe(true);
  });

  it('refuses non-finite numbers and non-JSON values', () => {
    expect(validateCondition({ eq: [1, Number.POSITIVE_INFINITY] }).ok).toBe(false);
    expect(validateCondition({ eq: [1, undefined] }).ok).toBe(false);
    expect(validateCondition({ eq: [1, new Date()] }).ok).toBe(false);
  });

  it('never throws on arbitrary JSON and any accepted tree evaluates without throwing (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (input) => {
        const result = validateCondition(input);
        if (result.ok) expect(['true', 'false', 'indeterminate']).toContain(evaluate(result.condition, ctx));
        else expect(result.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('ConditionSchema', () => {
  const Body = z.object({ condition: ConditionSchema.nullable().optional() });

  it('reports each error as a zod issue at the field-relative path', () => {
    const result = Body.safeParse({ condition: { and: [{ eq: [1, 1] }, { gt: [1] }, { foo: 1 }] } });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => ({ path: i.path, message: i.message }))).toEqual([
      { path: ['condition', 'and', 1, 'gt'], message: '"gt" takes exactly 2 operands' },
      { path: ['condition', 'and', 2, 'foo'], message: expect.stringMatching(/^unknown operator "foo"/) },
    ]);
  });

  it('passes a valid condition through unchanged', () => {
    const condition = { and: [{ eq: [v('subject.id'), 'u1'] }, { not: { in: ['x', [1, 'x']] } }] };
    expect(Body.parse({ condition })).toEqual({ condition });
    expect(Body.parse({ condition: null })).toEqual({ condition: null });
  });
});
