import { describe, expect, it } from 'vitest';
import { createEpochCache, createInvalidationEpoch } from './epoch-cache.js';
import { createMemoryKv } from '../kv/memory.js';

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

  describe('the subscription generation (pub/sub reconnects)', () => {
    // A stand-in for Kv.subscriptionGeneration: odd while messages are delivered, even while they may not be.
    const source = () => {
      let generation = 1;
      return {
        generation: () => generation,
        disconnect() { if (generation % 2 === 1) generation++; },
        reconnect() { if (generation % 2 === 0) generation++; },
      };
    };
    const make = (s: ReturnType<typeof source>) =>
      createEpochCache<number>({ ttlMs: 100, max: 10, now: () => 1_000, generation: s.generation });

    it('serves nothing while the subscriber is down, and nothing filled before it came back', () => {
      const s = source();
      const cache = make(s);
      cache.put('a', 1, cache.epoch);
      expect(cache.get('a')).toBe(1);
      s.disconnect();
      expect(cache.get('a')).toBeUndefined();
      s.reconnect();
      expect(cache.get('a')).toBeUndefined();
      expect(cache.size).toBe(0);
      cache.put('b', 2, cache.epoch);
      expect(cache.get('b')).toBe(2);
    });

    it('forgets entries of the old generation even when nothing was asked while the subscriber was down', () => {
      const s = source();
      const cache = make(s);
      cache.put('a', 1, cache.epoch);
      s.disconnect();
      s.reconnect();
      expect(cache.get('a')).toBeUndefined();
    });

    it('keeps nothing while the subscriber is down', () => {
      const s = source();
      const cache = make(s);
      s.disconnect();
      expect(cache.epoch).toBe(-1);
      cache.put('a', 1, cache.epoch);
      s.reconnect();
      expect(cache.get('a')).toBeUndefined();
      cache.put('a', 1, -1);
      expect(cache.get('a')).toBeUndefined();
    });

    it('does not keep a read that started before a reconnect (read-then-fill race)', () => {
      for (const gap of [(s: ReturnType<typeof source>) => s.disconnect(), (s: ReturnType<typeof source>) => { s.disconnect(); s.reconnect(); }]) {
        const s = source();
        const cache = make(s);
        const seen = cache.epoch; // captured before the read
        gap(s); // the read is in flight: the subscriber drops (and maybe comes back)
        s.reconnect();
        cache.put('a', 1, seen); // the read's answer may predate a lost invalidation
        expect(cache.get('a')).toBeUndefined();
        cache.put('a', 1, cache.epoch);
        expect(cache.get('a')).toBe(1);
      }
    });

    it('resets its owner once per generation change, lazily, with no work while the generation holds', () => {
      const s = source();
      let resets = 0;
      const e = createInvalidationEpoch({ generation: s.generation, reset: () => { resets++; } });
      for (let i = 0; i < 3; i++) expect(e.live()).toBe(true);
      expect(resets).toBe(0);
      const seen = e.value;
      s.disconnect();
      expect(e.live()).toBe(false);
      expect(e.live()).toBe(false);
      expect(resets).toBe(1);
      expect(e.unchanged(seen)).toBe(false);
      s.reconnect();
      expect(e.unchanged(seen)).toBe(false);
      expect(resets).toBe(2);
      const again = e.value;
      expect(e.unchanged(again)).toBe(true);
      e.bump();
      expect(e.unchanged(again)).toBe(false);
    });

    it('with the in-process store: live for as long as it is open, like the Redis store between reconnects', async () => {
      const kv = createMemoryKv();
      const cache = createEpochCache<number>({ ttlMs: 100, max: 10, now: () => 1_000, generation: () => kv.subscriptionGeneration() });
      expect(kv.subscriptionGeneration() % 2).toBe(1);
      expect(kv.subscriptionsLive()).toBe(true);
      cache.put('a', 1, cache.epoch);
      expect(cache.get('a')).toBe(1);
      const seen = cache.epoch;
      await kv.close();
      expect(kv.subscriptionGeneration() % 2).toBe(0);
      expect(kv.subscriptionsLive()).toBe(false);
      expect(cache.get('a')).toBeUndefined();
      cache.put('b', 2, seen);
      expect(cache.get('b')).toBeUndefined();
    });
  });
});
