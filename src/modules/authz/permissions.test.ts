import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findGrant, grants, isValidPermission, matchesPattern } from './permissions.js';

describe('matchesPattern', () => {
  it.each<[string, string, boolean]>([
    ['assets:read', 'assets:read', true],
    ['assets:read', 'assets:write', false],
    ['assets:*', 'assets:read', true],
    ['assets:*', 'assetsX:read', false],
    ['assets:*', 'asset:read', false],
    ['assets:*', 'assets', false],
    ['*:read', 'assets:read', true],
    ['*:read', 'assets:write', false],
    ['*:read', 'read', false],
    ['*', 'assets:read', true],
    ['*', 'anything at all', true],
    ['*:*', 'assets:read', true],
    ['*:*', 'assets', false],
    ['assets', 'assets', true],
    ['assets', 'assets:read', false],
    ['Assets:read', 'assets:read', false],
    ['assets:rea', 'assets:read', false],
    ['assets:read', 'assets:rea', false],
    ['a*:read', 'assets:read', false],
    // resource patterns against "<type>:<id>"
    ['asset:*', 'asset:42', true],
    ['asset:42', 'asset:42', true],
    ['asset:42', 'asset:420', false],
    ['asset:*', 'assets:42', false],
    ['asset:*', 'asset:', true],
    ['asset:42', 'asset:', false],
    ['asset:*', 'asset:urn:x:1', true],
    ['asset:urn:x:1', 'asset:urn:x:1', true],
    ['*', 'asset:42', true],
  ])('%s vs %s → %s', (pattern, value, expected) => {
    expect(matchesPattern(pattern, value)).toBe(expected);
  });

  it('matches every value against itself and against "*" (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(matchesPattern(s, s)).toBe(true);
        expect(matchesPattern('*', s)).toBe(true);
      }),
    );
  });

  it('never matches a pattern without "*" against a different value (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (p, s) => {
        fc.pre(!p.includes('*') && p !== s);
        expect(matchesPattern(p, s)).toBe(false);
      }),
    );
  });
});

describe('isValidPermission', () => {
  it.each(['assets:read', 'assets:*', '*:read', '*', 'assets', 'a.b-c_d:e.f', 'x'.repeat(128), '0:9'])('accepts %s', (s) => {
    expect(isValidPermission(s)).toBe(true);
  });

  it.each([
    '', ':', 'assets:', ':read', 'a:b:c', 'Assets:read', 'assets:re*d', 'as*:read', '**', 'assets: read', 'x'.repeat(129),
    'assets:read\n',
  ])('rejects %j', (s) => {
    expect(isValidPermission(s)).toBe(false);
  });

  it('rejects non-strings', () => {
    for (const s of [null, undefined, 1, ['a'], { a: 1 }]) expect(isValidPermission(s)).toBe(false);
  });
});

describe('grants / findGrant', () => {
  it('grants when any pattern matches', () => {
    expect(grants(['users:read', 'assets:*'], 'assets:delete')).toBe(true);
    expect(grants(['*:read'], 'assets:read')).toBe(true);
    expect(grants(['*'], 'billing:refund')).toBe(true);
  });

  it('does not grant otherwise', () => {
    expect(grants([], 'assets:read')).toBe(false);
    expect(grants(['assets:read', 'assetsX:*'], 'assets:write')).toBe(false);
    expect(grants(['assets:*'], 'assetsX:read')).toBe(false);
  });

  it('returns the first matching permission', () => {
    expect(findGrant(['users:read', 'assets:*', '*'], 'assets:read')).toBe('assets:*');
    expect(findGrant(['users:read'], 'assets:read')).toBeUndefined();
  });
});

describe('matchesPattern agrees with the split-based definition', () => {
  // The reference: split both at the first ':', `*` matches one whole segment, segment counts must agree.
  const split = (s: string): [string, string | undefined] => {
    const i = s.indexOf(':');
    return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
  };
  const reference = (pattern: string, value: string): boolean => {
    if (pattern === '*') return true;
    const [ph, pt] = split(pattern);
    const [vh, vt] = split(value);
    if (ph !== '*' && ph !== vh) return false;
    if (pt === undefined || vt === undefined) return pt === vt;
    return pt === '*' || pt === vt;
  };
  const part = fc.stringMatching(/^[a*:x]{0,5}$/);

  it('on arbitrary short strings of the interesting characters', () => {
    fc.assert(fc.property(part, part, (p, v) => { expect(matchesPattern(p, v)).toBe(reference(p, v)); }), { numRuns: 5000 });
  });

  it('on arbitrary strings', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (p, v) => { expect(matchesPattern(p, v)).toBe(reference(p, v)); }), { numRuns: 2000 });
  });
});
