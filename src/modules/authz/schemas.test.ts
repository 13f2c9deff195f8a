import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validatorCompiler } from '../../http/validator.js';
import { AuthorizeBody, plainAuthorizeBody } from './schemas.js';

const uuid = '0b3a4c1e-2d5f-4a6b-8c7d-9e0f1a2b3c4d';
const server = { action: 'assets:read', orgId: uuid, subjectId: uuid, resource: { type: 'asset', id: '42', attributes: { owner: uuid, level: 3 } } };
const member = { action: 'assets:read', orgId: uuid, resource: { type: 'asset', id: '42' } };

// Values near each rule's edge, valid and not, so that generated bodies land on both sides of every check;
// each field is mostly valid, so that whole bodies often are.
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const text = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }));
const action = mostly(
  fc.constantFrom('assets:read', 'a', 'a.b-c_d:e.f', `a:${'b'.repeat(126)}`),
  fc.oneof(fc.constantFrom('a:b:c', 'Assets:read', 'assets:*', 'assets:', ':read', `a:${'b'.repeat(127)}`, 'a b', ''), text, fc.integer(), fc.constant(null)),
);
const uuidish = mostly(
  fc.oneof(fc.uuid(), fc.constantFrom(uuid.toUpperCase(), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')),
  fc.oneof(fc.constantFrom('0b3a4c1e-2d5f-9a6b-8c7d-9e0f1a2b3c4d', '0b3a4c1e-2d5f-4a6b-7c7d-9e0f1a2b3c4d', `${uuid}\n`, uuid.slice(1)), text, fc.integer()),
);
const attributes = mostly(
  fc.oneof(
    fc.dictionary(fc.constantFrom('owner', 'dept', 'level', 'a-b_C9', 'x'.repeat(64)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 2, unit: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h') }), fc.constant(1), { minKeys: 60, maxKeys: 64 }),
    fc.constantFrom({ big: 'x'.repeat(16 * 1024 - 12) }, { big: 'é'.repeat(8 * 1024 - 6) }),
  ),
  fc.oneof(
    fc.dictionary(fc.oneof(text, fc.constantFrom('x'.repeat(65), 'a b', '')), fc.integer(), { minKeys: 1, maxKeys: 3 }),
    fc.constantFrom(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 1])), { big: 'x'.repeat(16 * 1024 - 11) }, { big: 'é'.repeat(8 * 1024 - 5) }),
    fc.constant([]), fc.constant(null), text,
  ),
);
const resource = mostly(
  fc.record({
    type: mostly(fc.constantFrom('asset', 'A.b-c_9', 'x'.repeat(64)), fc.oneof(fc.constantFrom('x'.repeat(65), 'a b', ''), text, fc.integer())),
    id: mostly(fc.constantFrom('42', 'x'.repeat(256), 'é', uuid), fc.oneof(fc.constantFrom('x'.repeat(257), 'a b', 'a\u0000', ''), text, fc.integer())),
    attributes,
  }, { requiredKeys: [] }),
  fc.oneof(fc.record({ type: fc.constant('asset'), extra: fc.jsonValue({ maxDepth: 1 }) }), fc.constant(null), fc.constant([]), text),
);
const valid = fc.record({ action, resource, orgId: uuidish, subjectId: uuidish }, { requiredKeys: [] });
// Bodies arrive through JSON.parse: plain objects, no undefined, no -0.
const body = mostly(valid, fc.oneof(
  fc.record({ action, extra: fc.jsonValue({ maxDepth: 1 }) }),
  fc.jsonValue({ maxDepth: 2 }),
)).map((b) => JSON.parse(JSON.stringify(b)) as unknown);

describe('AuthorizeBody fast path', () => {
  it('accepts the bodies members and resource servers send, as their own parsed value', () => {
    for (const b of [server, member, { action: 'org:read' }]) {
      expect(plainAuthorizeBody(b)).toBe(true);
      expect(AuthorizeBody.parse(b)).toEqual(b);
    }
  });

  it('agrees with the zod schema on generated bodies, and never accepts what zod would refuse or change', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(fc.property(body, (b) => {
      const zod = AuthorizeBody.safeParse(b);
      const plain = plainAuthorizeBody(b);
      if (plain) {
        accepted += 1;
        expect(zod.success).toBe(true);
        expect(zod.data).toStrictEqual(b);
      } else {
        refused += 1;
        // Not needed for correctness (zod decides what the fast path leaves), but a stricter fast path would be slower for nothing.
        expect(zod.success).toBe(false);
      }
    }), { numRuns: 3000 });
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('is what the route validator uses: an accepted body passes through as it is, anything else gets zod\'s answer', () => {
    const validate = validatorCompiler({ schema: AuthorizeBody, method: 'POST', url: '/auth/authorize', httpPart: 'body' }) as
      (d: unknown) => { value?: unknown; error?: Error };
    const b = structuredClone(server);
    // zod builds a new object; the fast path hands back the input itself.
    expect(validate(b).value).toBe(b);
    const bad = validate({ ...member, orgId: 'nope' });
    expect(bad.value).toBeUndefined();
    expect(JSON.stringify(bad.error)).toMatch(/\/orgId/);
  });
});
