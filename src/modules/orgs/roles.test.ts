import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allows, covers, holdsAll, intersect, isReservedAction, meet, permissionsOf } from './roles.js';

const seg = fc.constantFrom('assets', 'docs', 'read', 'write', 'x');
const action = fc.oneof(seg, fc.tuple(seg, seg).map(([a, b]) => `${a}:${b}`));
const pattern = fc.oneof(
  fc.constant('*'),
  fc.constantFrom('assets', 'docs', '*'),
  fc.tuple(fc.constantFrom('assets', 'docs', 'x', '*'), fc.constantFrom('read', 'write', 'x', '*')).map(([a, b]) => `${a}:${b}`),
);
const set = fc.array(pattern, { maxLength: 5 });

describe('permission algebra', () => {
  it.each<[string, string, boolean]>([
    ['*', 'assets:read', true], ['*', '*:*', true], ['assets:*', 'assets:read', true], ['*:read', 'assets:read', true],
    ['assets:read', 'assets:*', false], ['*:*', '*', false], ['assets', 'assets:read', false], ['*:*', 'org:delete', true],
  ])('covers(%s, %s) = %s', (held, wanted, want) => expect(covers(held, wanted)).toBe(want));

  it('meet grants exactly what both patterns grant', () => {
    fc.assert(fc.property(pattern, pattern, action, (a, b, x) => {
      const m = meet(a, b);
      expect(m !== null && allows([m], x)).toBe(allows([a], x) && allows([b], x));
    }));
  });

  it('intersect(P, S) allows an action iff both P and S allow it', () => {
    fc.assert(fc.property(set, set, action, (p, s, x) => {
      expect(allows(intersect(p, s), x)).toBe(allows(p, x) && allows(s, x));
    }));
  });

  it('covers agrees with matching: if held covers wanted, every action wanted allows, held allows', () => {
    fc.assert(fc.property(pattern, pattern, action, (h, w, x) => {
      if (covers(h, w) && allows([w], x)) expect(allows([h], x)).toBe(true);
    }));
  });

  it('holdsAll is no escalation: an owner ("*") holds anything, an admin never holds "*" or org:delete', () => {
    const admin = permissionsOf(['admin'], new Map());
    expect(holdsAll(['*'], ['*', 'org:delete', 'assets:read'])).toBe(true);
    expect(holdsAll(admin, ['*'])).toBe(false);
    expect(holdsAll(admin, ['*:*'])).toBe(false);
    expect(holdsAll(admin, ['org:delete'])).toBe(false);
    expect(holdsAll(admin, ['members:read', 'invites:*'])).toBe(true);
  });

  it('custom roles resolve case-insensitively; unknown names grant nothing', () => {
    const custom = new Map([['editor', ['docs:*']]]);
    expect(permissionsOf(['member', 'Editor', 'ghost'], custom).sort()).toEqual(['docs:*', 'members:read', 'org:read', 'roles:read']);
  });

  it('reserved actions are the org\'s own resources', () => {
    for (const a of ['org:delete', 'members:write', 'roles:read', 'policies:write', 'invites:read']) expect(isReservedAction(a)).toBe(true);
    for (const a of ['assets:read', 'organization:read', 'member:write']) expect(isReservedAction(a)).toBe(false);
  });
});
