import { describe, expect, it } from 'vitest';
import { AttributeObject } from './schemas.js';

describe('AttributeObject size bound', () => {
  const Small = AttributeObject({ maxKeys: 4, maxBytes: 50 });
  const ok = (v: unknown) => Small.safeParse(v).success;

  it('measures the object as JSON bytes, at the exact limit', () => {
    // {"a":"…"} is 8 bytes plus the string's.
    expect(ok({ a: 'x'.repeat(42) })).toBe(true);
    expect(ok({ a: 'x'.repeat(43) })).toBe(false);
    // escaped characters and UTF-8 count as they are written
    expect(ok({ a: '"'.repeat(21) })).toBe(true);
    expect(ok({ a: '"'.repeat(22) })).toBe(false);
    expect(ok({ a: 'é'.repeat(21) })).toBe(true);
    expect(ok({ a: 'é'.repeat(22) })).toBe(false);
    // nested values and long number forms
    expect(ok({ a: { b: 'x'.repeat(36) } })).toBe(true);
    expect(ok({ a: { b: 'x'.repeat(37) } })).toBe(false);
    expect(ok({ a: 1e21, b: -1.2345678901234567e-300, c: true })).toBe(true);
    expect(ok({ a: 1e21, b: -1.2345678901234567e-300, c: true, d: 123456 })).toBe(false);
  });

  it('takes a JSON object of any values as it is, and nothing else', () => {
    const v = { a: { b: [1, 'x', null] }, c: 'é', d: false };
    expect(Small.parse(v)).toEqual(v);
    for (const bad of [[], [1], 'x', 1, null, true]) expect(ok(bad)).toBe(false);
  });

  it('keeps the key rules ahead of the size', () => {
    expect(Small.safeParse({ 'bad key': 1 }).error?.issues[0]?.message).toMatch(/must match/);
    expect(Small.safeParse({ a: 1, b: 2, c: 3, d: 4, e: 5 }).error?.issues[0]?.message).toMatch(/at most 4 attributes/);
  });
});
