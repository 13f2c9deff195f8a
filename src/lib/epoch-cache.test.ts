import { describe, expect, it } from 'vitest';
import { createEpochCache } from './epoch-cache.js';

describe('epoch cache', () => {
  const make = (o: { max?: number; stillValid?: (v: number, now: number) => boolean } = {}) => {
    let now = 1_000;
    const cache = createEpochCache<number>({ ttlMs: 100, max: o.max ?? 10, now: () => now, stillValid: o.stillValid });
    return { cache, advance: (ms: number) => { now += ms; } };
  };

  it('serves an entry for ttlMs, then forgets it; a clock moved backwards also forgets it', () => {
    const { cache, advance } = make();
    cache.put('a', 1, cache.epoch);
    advance(100);
    expect(cache.get('a')).toBe(1);
    advance(1);
    expect(cache.get('a')).toBeUndefined();
    cache.put('b', 2, cache.epoch);
    advance(-1);
    expect(cache.get('b')).toBeUndefined();
  });

  it('does not store what was loaded before a drop (the load may be stale)', () => {
    const { cache } = make();
    const seen = cache.epoch;
    cache.dropWhere(() => false);
    cache.put('a', 1, seen);
    expect(cache.get('a')).toBeUndefined();
    cache.put('a', 1, cache.epoch);
    expect(cache.get('a')).toBe(1);
  });

  it('drops matching entries, forgets one, clears all', () => {
    const { cache } = make();
    for (const [k, v] of [['a', 1], ['b', 2], ['c', 3]] as const) cache.put(k, v, cache.epoch);
    cache.dropWhere((v) => v % 2 === 1);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, 2, undefined]);
    cache.forget('b');
    expect(cache.size).toBe(0);
    cache.put('d', 4, cache.epoch);
    cache.clear();
    expect(cache.get('d')).toBeUndefined();
  });

  it('holds at most max entries, the oldest going first', () => {
    const { cache } = make({ max: 2 });
    cache.put('a', 1, cache.epoch);
    cache.put('b', 2, cache.epoch);
    cache.put('a', 11, cache.epoch); // an update is not an addition, and makes `a` the newest
    cache.put('c', 3, cache.epoch);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([11, undefined, 3]);
  });

  it('refuses an entry its owner no longer finds valid', () => {
    const { cache, advance } = make({ stillValid: (v, now) => v > now });
    cache.put('a', 1_050, cache.epoch);
    expect(cache.get('a')).toBe(1_050);
    advance(50);
    expect(cache.get('a')).toBeUndefined();
  });
});
