import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Kv, SlidingWindowResult } from '../../src/kv/kv.js';
import { isConnectionFailure, isNoScript, KvCrossSlotError, KvUnavailableError } from '../../src/kv/kv-errors.js';
import { hashTag, kvKey } from '../../src/kv/kv.js';
import { createMemoryBackend, createMemoryKv } from '../../src/kv/memory.js';
import { createRedisKv, parseClusterUrl } from '../../src/kv/redis.js';
import { leaseStep, slidingWindowStep, type WindowState } from '../../src/kv/sliding-window.js';

import { deleteMatching, rawRedis, REDIS_IS_CLUSTER, REDIS_URL, scanKeys } from '../helpers/backend.js';

/**
 * Runs against TEST_REDIS_URL (default redis://127.0.0.1:6379), a Redis Cluster too (`npm run test:cluster`).
 * The two relay tests cut a TCP connection to one server, which only a single server allows (a cluster
 * client follows MOVED replies to the nodes' real addresses): they run on a single server only.
 */
const singleServerIt = REDIS_IS_CLUSTER ? it.skip : it;
const RUN = `aptest-${randomBytes(6).toString('hex')}`;
const PREFIX = `${RUN}:`;
/** An instant aligned to both 1 s and 60 s windows. */
const BASE = 60_000 * 28_333_334;

interface Harness {
  name: 'memory' | 'redis';
  /** A new handle on the shared store (like another app instance); closed in afterAll. */
  open(prefix?: string): Promise<Kv>;
  /** Lets `ms` pass for TTLs: the injected clock for memory, real time for Redis. */
  advance(ms: number): Promise<void>;
}

const opened: Kv[] = [];
const track = (kv: Kv): Kv => (opened.push(kv), kv);

function memoryHarness(): Harness {
  let clock = 1_000_000;
  const backend = createMemoryBackend({ now: () => clock });
  return {
    name: 'memory',
    open: async (prefix = PREFIX) => track(createMemoryKv({ backend, prefix })),
    advance: async (ms) => {
      clock += ms;
    },
  };
}

function redisHarness(): Harness {
  return {
    name: 'redis',
    open: async (prefix = PREFIX) => track(await createRedisKv(REDIS_URL, { prefix })),
    advance: (ms) => sleep(ms),
  };
}

afterAll(async () => {
  await Promise.all(opened.map((kv) => kv.close()));
  const raw = await rawRedis(REDIS_URL);
  await deleteMatching(raw, `${RUN}*`);
  raw.disconnect();
});

async function waitFor(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** A deterministic sequence of hit times with gaps, bursts and clock lag (xorshift, fixed seed). */
function hitTimes(count: number): number[] {
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const times: number[] = [];
  let t = BASE + 137;
  for (let i = 0; i < count; i++) {
    const r = rnd(100);
    t += r < 5 ? 2_500 : r < 10 ? -150 : r < 40 ? 0 : rnd(300);
    times.push(t);
  }
  return times;
}

describe.each([memoryHarness(), redisHarness()])('Kv contract: $name', (h) => {
  it('gets, sets and expires values', async () => {
    const kv = await h.open();
    expect(await kv.get('{t1}:absent')).toBeNull();
    expect(await kv.set('{t1}:plain', 'v1')).toBe(true);
    expect(await kv.get('{t1}:plain')).toBe('v1');
    expect(await kv.pttl('{t1}:plain')).toBe(-1);
    expect(await kv.pttl('{t1}:absent')).toBe(-2);

    expect(await kv.set('{t1}:short', 'v2', { ttlMs: 100 })).toBe(true);
    const ttl = await kv.pttl('{t1}:short');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100);
    await h.advance(150);
    expect(await kv.get('{t1}:short')).toBeNull();
    expect(await kv.pttl('{t1}:short')).toBe(-2);

    // A plain SET clears an earlier TTL, as in Redis.
    await kv.set('{t1}:plain', 'v3', { ttlMs: 100 });
    await kv.set('{t1}:plain', 'v4');
    expect(await kv.pttl('{t1}:plain')).toBe(-1);
  });

  it('rejects non-positive TTLs', async () => {
    const kv = await h.open();
    await expect(kv.set('{t1}:bad', 'v', { ttlMs: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(kv.incr('{t1}:bad', -5)).rejects.toBeInstanceOf(RangeError);
  });

  it('set nx only writes absent keys', async () => {
    const kv = await h.open();
    expect(await kv.set('{t2}:nx', 'first', { nx: true })).toBe(true);
    expect(await kv.set('{t2}:nx', 'second', { nx: true })).toBe(false);
    expect(await kv.get('{t2}:nx')).toBe('first');
    expect(await kv.set('{t2}:nx-ttl', 'a', { nx: true, ttlMs: 100 })).toBe(true);
    expect(await kv.set('{t2}:nx-ttl', 'b', { nx: true, ttlMs: 100 })).toBe(false);
    await h.advance(150);
    expect(await kv.set('{t2}:nx-ttl', 'c', { nx: true })).toBe(true);
    expect(await kv.get('{t2}:nx-ttl')).toBe('c');
  });

  it('set xx only updates existing keys and keeps their TTL', async () => {
    const kv = await h.open();
    expect(await kv.set('xx:a', 'v1', { xx: true })).toBe(false);
    expect(await kv.get('xx:a')).toBeNull();
    await kv.set('xx:a', 'v1', { ttlMs: 60_000 });
    expect(await kv.set('xx:a', 'v2', { xx: true })).toBe(true);
    expect(await kv.get('xx:a')).toBe('v2');
    const ttl = await kv.pttl('xx:a');
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await kv.del('xx:a');
    // An update racing a delete never brings the key back.
    expect(await kv.set('xx:a', 'v3', { xx: true })).toBe(false);
    expect(await kv.get('xx:a')).toBeNull();
  });

  it('writeAll applies a record and its index entry together, and removes them together', async () => {
    const kv = await h.open();
    await kv.writeAll([
      { op: 'set', key: '{t}:rec:1', value: 'r1', ttlMs: 60_000 },
      { op: 'sadd', key: '{t}:idx', member: '1', ttlMs: 60_000 },
      { op: 'set', key: '{t}:rec:2', value: 'r2' },
      { op: 'sadd', key: '{t}:idx', member: '2' },
    ]);
    expect(await kv.mget(['{t}:rec:1', '{t}:rec:2'])).toEqual(['r1', 'r2']);
    expect((await kv.smembers('{t}:idx')).sort()).toEqual(['1', '2']);
    expect(await kv.pttl('{t}:rec:1')).toBeGreaterThan(50_000);
    expect(await kv.pttl('{t}:rec:2')).toBe(-1);
    await kv.writeAll([{ op: 'del', keys: ['{t}:rec:1'] }, { op: 'srem', key: '{t}:idx', member: '1' }]);
    expect(await kv.get('{t}:rec:1')).toBeNull();
    expect(await kv.smembers('{t}:idx')).toEqual(['2']);
    await kv.writeAll([]);
  });

  it('writeAll is atomic: no reader ever sees a record without its index entry', async () => {
    const kv = await h.open();
    const other = await h.open();
    let torn = 0;
    for (let i = 0; i < 50; i++) {
      const writes = kv.writeAll([{ op: 'set', key: `{t}:at:${i}`, value: 'x' }, { op: 'sadd', key: '{t}:at-idx', member: String(i) }]);
      const [rec, members] = await Promise.all([other.get(`{t}:at:${i}`), other.smembers('{t}:at-idx')]);
      if (rec !== null && !members.includes(String(i))) torn++;
      await writes;
    }
    expect(torn).toBe(0);
  });

  it('writeAll reports a failing write and still applies the others, like MULTI/EXEC', async () => {
    const kv = await h.open();
    await kv.set('{t}:wt', 'string');
    await expect(kv.writeAll([{ op: 'sadd', key: '{t}:wt', member: 'm' }, { op: 'set', key: '{t}:wt2', value: 'ok' }])).rejects.toThrow(/WRONGTYPE/);
    expect(await kv.get('{t}:wt2')).toBe('ok');
  });

  it('mget and writeAll refuse keys of several hash tags (CROSSSLOT on a Redis Cluster), writing nothing', async () => {
    const kv = await h.open();
    await expect(kv.mget(['{x1}:a', '{x2}:a'])).rejects.toBeInstanceOf(KvCrossSlotError);
    // A key without a tag hashes as a whole: it is its own unit.
    await expect(kv.mget(['{x1}:a', 'x1:a'])).rejects.toBeInstanceOf(KvCrossSlotError);
    await expect(kv.writeAll([{ op: 'set', key: '{x1}:w', value: 'v' }, { op: 'sadd', key: '{x2}:idx', member: 'w' }])).rejects.toBeInstanceOf(KvCrossSlotError);
    await expect(kv.writeAll([{ op: 'set', key: '{x1}:w', value: 'v' }, { op: 'del', keys: ['{x1}:z', '{x3}:z'] }])).rejects.toBeInstanceOf(KvCrossSlotError);
    expect(await kv.get('{x1}:w')).toBeNull();
    expect(await kv.smembers('{x2}:idx')).toEqual([]);
    // kvKey's keys of one (tenant, unit) share a tag; another unit of the same tenant does not.
    const t = 'b3c1d2e4-0000-4000-8000-000000000001';
    await kv.writeAll([
      { op: 'set', key: kvKey(t, 'sess', 'u1', 's1'), value: 'v' },
      { op: 'sadd', key: kvKey(t, 'user-sess', 'u1'), member: 's1' },
    ]);
    expect(await kv.mget([kvKey(t, 'sess', 'u1', 's1'), kvKey(t, 'sess-su', 'u1', 's1')])).toEqual(['v', null]);
    await expect(kv.mget([kvKey(t, 'sess', 'u1', 's1'), kvKey(t, 'sess', 'u2', 's1')])).rejects.toBeInstanceOf(KvCrossSlotError);
    // del accepts several tags (one tag at a time on a cluster).
    await kv.set('{x4}:d', '1');
    expect(await kv.del('{x4}:d', '{x5}:d', kvKey(t, 'sess', 'u1', 's1'))).toBe(2);
  });

  it('mget returns values in order with null for missing keys', async () => {
    const kv = await h.open();
    await kv.set('{t3}:a', '1');
    await kv.set('{t3}:b', '2');
    expect(await kv.mget(['{t3}:a', '{t3}:missing', '{t3}:b'])).toEqual(['1', null, '2']);
    expect(await kv.mget([])).toEqual([]);
  });

  it('del returns how many keys existed', async () => {
    const kv = await h.open();
    await kv.set('{t4}:a', '1');
    await kv.sadd('{t4}:s', 'm');
    expect(await kv.del('{t4}:a', '{t4}:s', '{t4}:missing')).toBe(2);
    expect(await kv.del('{t4}:a')).toBe(0);
    expect(await kv.del()).toBe(0);
    expect(await kv.get('{t4}:a')).toBeNull();
  });

  it('getDel hands the value to exactly one of 20 concurrent callers', async () => {
    const kv = await h.open();
    await kv.set('{t5}:code', 'secret', { ttlMs: 10_000 });
    const results = await Promise.all(Array.from({ length: 20 }, () => kv.getDel('{t5}:code')));
    expect(results.filter((r) => r === 'secret')).toHaveLength(1);
    expect(results.filter((r) => r === null)).toHaveLength(19);
    expect(await kv.get('{t5}:code')).toBeNull();
  });

  it('incr counts atomically and sets the TTL only on creation', async () => {
    const kv = await h.open();
    const results = await Promise.all(Array.from({ length: 20 }, () => kv.incr('{t6}:n', 10_000)));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await kv.get('{t6}:n')).toBe('20');

    await kv.incr('{t6}:m', 10_000);
    expect(await kv.incr('{t6}:m', 60_000)).toBe(2);
    const ttl = await kv.pttl('{t6}:m');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);

    expect(await kv.incr('{t6}:short', 100)).toBe(1);
    await h.advance(150);
    expect(await kv.incr('{t6}:short', 100)).toBe(1);

    await kv.set('{t6}:text', 'abc');
    await expect(kv.incr('{t6}:text', 1_000)).rejects.toThrow(/not an integer/);
  });

  it('keeps sets with a TTL that sadd (re)sets', async () => {
    const kv = await h.open();
    await kv.sadd('{t7}:s', 'a');
    await kv.sadd('{t7}:s', 'b');
    await kv.sadd('{t7}:s', 'a');
    expect((await kv.smembers('{t7}:s')).sort()).toEqual(['a', 'b']);
    expect(await kv.pttl('{t7}:s')).toBe(-1);
    await kv.srem('{t7}:s', 'a');
    await kv.srem('{t7}:s', 'missing');
    expect(await kv.smembers('{t7}:s')).toEqual(['b']);
    await kv.srem('{t7}:s', 'b');
    expect(await kv.pttl('{t7}:s')).toBe(-2);
    expect(await kv.smembers('{t7}:absent')).toEqual([]);

    await kv.sadd('{t7}:ttl', 'x', 10_000);
    await kv.sadd('{t7}:ttl', 'y');
    const kept = await kv.pttl('{t7}:ttl');
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(10_000);
    await kv.sadd('{t7}:ttl', 'z', 100);
    expect(await kv.pttl('{t7}:ttl')).toBeLessThanOrEqual(100);
    await h.advance(150);
    expect(await kv.smembers('{t7}:ttl')).toEqual([]);
  });

  it('reports WRONGTYPE like Redis', async () => {
    const kv = await h.open();
    await kv.sadd('{t8}:set', 'm');
    await expect(kv.get('{t8}:set')).rejects.toThrow(/WRONGTYPE/);
    await expect(kv.getDel('{t8}:set')).rejects.toThrow(/WRONGTYPE/);
    expect(await kv.mget(['{t8}:set'])).toEqual([null]);
    await kv.set('{t8}:str', 'v');
    await expect(kv.sadd('{t8}:str', 'm')).rejects.toThrow(/WRONGTYPE/);
  });

  it('sliding window refuses the 21st hit with 20 per 60 s', async () => {
    const kv = await h.open();
    for (let i = 1; i <= 20; i++) {
      const r = await kv.slidingWindow('{t9}:sw', 20, 60_000, BASE + i);
      expect(r).toMatchObject({ allowed: true, count: i, remaining: 20 - i });
      expect(r.retryAfterMs).toBe(i === 20 ? 60_000 - 20 + 3_000 : 0);
    }
    const refused = await kv.slidingWindow('{t9}:sw', 20, 60_000, BASE + 100);
    // Room again once the 20 hits, now the previous window, weigh 19: 3 s into the next window.
    expect(refused).toEqual({ allowed: false, count: 20, remaining: 0, retryAfterMs: 62_900, resetMs: 119_900 });
    expect((await kv.slidingWindow('{t9}:sw', 20, 60_000, BASE + 100 + 62_899)).allowed).toBe(false);
    expect(await kv.slidingWindow('{t9}:sw', 20, 60_000, BASE + 100 + 62_900)).toMatchObject({ allowed: true, count: 20 });
  });

  it('sliding window weighs the previous window by its remaining overlap', async () => {
    const kv = await h.open();
    for (let i = 0; i < 10; i++) expect((await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + i)).allowed).toBe(true);
    // Half way through the next window the previous 10 hits weigh 5: five more fit.
    for (let i = 6; i <= 10; i++) {
      expect(await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + 1_500)).toMatchObject({ allowed: true, count: i });
    }
    const refused = await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + 1_500);
    expect(refused).toEqual({ allowed: false, count: 10, remaining: 0, retryAfterMs: 100, resetMs: 1_500 });
    expect(await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + 1_600)).toMatchObject({ allowed: true, count: 10 });
    // Next window: the previous window's 6 hits weigh 6 at its start, so four fit.
    const next = await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + 2_000);
    expect(next).toMatchObject({ allowed: true, count: 7, remaining: 3, resetMs: 2_000 });
    // Two idle windows later everything is forgotten.
    expect(await kv.slidingWindow('{t10}:sw', 10, 1_000, BASE + 4_000)).toMatchObject({ allowed: true, count: 1, remaining: 9 });
  });

  it('sliding window admits exactly the limit out of 50 concurrent hits', async () => {
    const kv = await h.open();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => kv.slidingWindow('{t11}:sw', 20, 60_000, BASE + 5_000)),
    );
    const allowed = results.filter((r) => r.allowed);
    expect(allowed).toHaveLength(20);
    expect(allowed.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('sliding window keeps its documented bounds', async () => {
    const kv = await h.open();
    const limit = 7;
    const admitted: number[] = [];
    for (const t of hitTimes(300).sort((a, b) => a - b)) {
      const r = await kv.slidingWindow('{t12}:sw', limit, 1_000, t);
      if (r.allowed) {
        admitted.push(t);
        expect(r.remaining).toBe(limit - r.count);
      }
      expect(r.count).toBeLessThanOrEqual(limit);
    }
    const inAlignedWindow = (t: number): number => admitted.filter((u) => Math.floor(u / 1_000) === Math.floor(t / 1_000)).length;
    const inTrailingWindow = (t: number): number => admitted.filter((u) => u >= t && u < t + 1_000).length;
    expect(Math.max(...admitted.map(inAlignedWindow))).toBeLessThanOrEqual(limit);
    expect(Math.max(...admitted.map(inTrailingWindow))).toBeLessThanOrEqual(2 * limit - 1);
  });

  it('rejects invalid sliding-window arguments', async () => {
    const kv = await h.open();
    await expect(kv.slidingWindow('{t13}:sw', 0, 1_000, BASE)).rejects.toBeInstanceOf(RangeError);
    await expect(kv.slidingWindow('{t13}:sw', 5, 1.5, BASE)).rejects.toBeInstanceOf(RangeError);
  });

  it('delivers published messages to subscribers on other handles until unsubscribed', async () => {
    const publisher = await h.open();
    const subscriber = await h.open();
    const other = await h.open(`${RUN}-other:`);
    const got: string[] = [];
    const gotOther: string[] = [];
    const unsubscribe = await subscriber.subscribe('events', (m) => got.push(m));
    await other.subscribe('events', (m) => gotOther.push(m));
    await publisher.publish('events', 'm1');
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['m1']);
    await unsubscribe();
    await publisher.publish('events', 'm2');
    await sleep(100);
    expect(got).toEqual(['m1']);
    expect(gotOther).toEqual([]);
  });

  it('pings', async () => {
    const kv = await h.open();
    await expect(kv.ping()).resolves.toBeUndefined();
  });

  it('isolates prefixes', async () => {
    const a = await h.open();
    const b = await h.open(`${RUN}-b:`);
    await a.set('{t14}:k', 'from-a');
    expect(await b.get('{t14}:k')).toBeNull();
    await b.set('{t14}:k', 'from-b');
    expect(await a.get('{t14}:k')).toBe('from-a');
    expect(await b.get('{t14}:k')).toBe('from-b');
    expect(await b.del('{t14}:k')).toBe(1);
    expect(await a.get('{t14}:k')).toBe('from-a');
  });

  it('reports its subscriptions live once subscribed, and not once closed', async () => {
    const kv = await h.open();
    await kv.subscribe('live', () => {});
    expect(kv.subscriptionsLive()).toBe(true);
    // The subscription generation: odd while messages are delivered, a new even one once they may not be.
    const live = kv.subscriptionGeneration();
    expect(live % 2).toBe(1);
    await kv.close();
    expect(kv.subscriptionsLive()).toBe(false);
    expect(kv.subscriptionGeneration() % 2).toBe(0);
    expect(kv.subscriptionGeneration()).not.toBe(live);
  });

  it('rejects with KvUnavailableError once closed', async () => {
    const kv = await h.open();
    await kv.close();
    await expect(kv.get('{t15}:k')).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(kv.ping()).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(kv.close()).resolves.toBeUndefined();
  });
});

describe('Kv contract: memory and redis agree', () => {
  it('gives identical sliding-window answers for a deterministic sequence', async () => {
    const memory = track(createMemoryKv({ prefix: PREFIX }));
    const redis = track(await createRedisKv(REDIS_URL, { prefix: PREFIX }));
    const times = hitTimes(400);
    const run = async (kv: Kv): Promise<SlidingWindowResult[]> => {
      const out: SlidingWindowResult[] = [];
      for (const t of times) out.push(await kv.slidingWindow('{agree}:sw', 7, 1_000, t));
      return out;
    };
    const fromMemory = await run(memory);
    expect(fromMemory.some((r) => !r.allowed)).toBe(true);
    expect(await run(redis)).toEqual(fromMemory);
  });
});

describe('Kv contract: leases (local admission)', () => {
  it('memory and redis give identical lease answers, and admitted + reserved never pass the limit', async () => {
    const memory = track(createMemoryKv({ prefix: PREFIX }));
    const redis = track(await createRedisKv(REDIS_URL, { prefix: PREFIX }));
    const times = hitTimes(300);
    const run = async (kv: Kv) => {
      const out = [];
      // Some calls also give back part of a lease of this window or the previous one.
      for (const [i, t] of times.entries()) {
        out.push(await kv.slidingWindowLease!('{agree}:lease', 40, 1_000, t, (i % 3 === 0 ? 0 : 1), i % 7, i % 4 === 0 ? i % 5 : 0, Math.floor(t / 1_000) - (i % 2)));
      }
      return out;
    };
    const fromMemory = await run(memory);
    expect(fromMemory.some((r) => !r.allowed)).toBe(true);
    expect(fromMemory.some((r) => r.granted > 0)).toBe(true);
    for (const r of fromMemory) if (r.allowed) expect(r.count).toBeLessThanOrEqual(40);
    expect(await run(redis)).toEqual(fromMemory);
  });

  it('a hit without a lease is exactly slidingWindow; a lease is counted like hits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 5_000 }), fc.nat(30), fc.nat(30), fc.integer({ min: -2, max: 2 }), fc.nat(4_999), fc.nat(40),
        (limit, w, cur, prev, lag, e, want) => {
          const idx = 1_000;
          const now = idx * w + (e % w);
          const stored: WindowState = { idx: idx + lag, cur: Math.min(cur, limit), prev: Math.min(prev, limit) };
          const exact = slidingWindowStep(stored, limit, w, now);
          const leased = leaseStep(stored, limit, w, now, 1, 0);
          expect({ ...leased.result, granted: undefined, idx: undefined }).toEqual({ ...exact.result, granted: undefined, idx: undefined });
          expect(leased.write).toEqual(exact.write);
          // A lease of g is the same state as g + 1 exact hits admitted in a row.
          const withLease = leaseStep(stored, limit, w, now, 1, want);
          let state: WindowState | null = stored;
          let admitted = 0;
          for (let i = 0; i <= withLease.result.granted; i += 1) {
            const s = slidingWindowStep(state, limit, w, now);
            if (!s.result.allowed) break;
            admitted += 1;
            state = s.write;
          }
          if (withLease.result.allowed) {
            expect(admitted).toBe(withLease.result.granted + 1);
            expect(withLease.write).toEqual(state);
          }
        }),
      { numRuns: 2_000 },
    );
  });
});

describe('sliding-window arithmetic', () => {
  it('retryAfterMs and resetMs are exact', () => {
    const arb = fc.record({
      limit: fc.integer({ min: 1, max: 30 }),
      w: fc.integer({ min: 1, max: 5_000 }),
      cur: fc.nat(30),
      prev: fc.nat(30),
      lag: fc.integer({ min: -2, max: 2 }),
      e: fc.nat(4_999),
    });
    fc.assert(
      fc.property(arb, ({ limit, w, cur, prev, lag, e }) => {
        const idx = 1_000;
        const now = idx * w + (e % w);
        const stored: WindowState = { idx: idx + lag, cur: Math.min(cur, limit), prev: Math.min(prev, limit) };
        const first = slidingWindowStep(stored, limit, w, now);
        const state = first.write ?? stored;
        const { retryAfterMs, resetMs } = first.result;
        // Times before the stored window are evaluated at its start; probe from there.
        const from = Math.max(now, state.idx * w);
        if (!first.result.allowed || first.result.remaining === 0) {
          expect(retryAfterMs).toBeGreaterThanOrEqual(1);
          expect(retryAfterMs).toBeLessThanOrEqual(2 * w);
          expect(slidingWindowStep(state, limit, w, from + retryAfterMs).result.allowed).toBe(true);
          if (retryAfterMs > 1) expect(slidingWindowStep(state, limit, w, from + retryAfterMs - 1).result.allowed).toBe(false);
        } else {
          expect(retryAfterMs).toBe(0);
        }
        if (resetMs > 0) {
          expect(slidingWindowStep(state, limit, w, from + resetMs).result.count).toBe(1);
          if (limit > 1) expect(slidingWindowStep(state, limit, w, from + resetMs - 1).result.count).toBeGreaterThan(1);
        }
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('memory store specifics', () => {
  it('sweeps expired keys periodically and stops sweeping on close', async () => {
    let clock = 0;
    const backend = createMemoryBackend({ now: () => clock, sweepIntervalMs: 10 });
    const kv = createMemoryKv({ backend });
    await kv.set('a', '1', { ttlMs: 5 });
    await kv.set('b', '1');
    clock = 10;
    expect(backend.size).toBe(2);
    await waitFor(() => backend.size === 1);
    await kv.close();
    await kv.close();
  });

  it('runs its scripts again when the server has forgotten them (NOSCRIPT), and never lets NOSCRIPT through as a bug', async () => {
    // After a restart (or SCRIPT FLUSH) the server no longer knows the scripts a connection already sent.
    // A NOSCRIPT that outlives the retries means the node is not serving scripts now: 503, not 500.
    expect(isNoScript(new Error('NOSCRIPT No matching script. Please use EVAL.'))).toBe(true);
    expect(isConnectionFailure(new Error('NOSCRIPT No matching script. Please use EVAL.'))).toBe(true);
    // Seen in the soak while a Cluster master restarted: a redirect ioredis could not follow is a store outage (503).
    expect(isConnectionFailure(new Error('MOVED 10771 127.0.0.1:21312'))).toBe(true);
    expect(isConnectionFailure(new Error('ERR wrong number of arguments'))).toBe(false);
    const kv = track(await createRedisKv(REDIS_URL, { prefix: PREFIX }));
    const raw = await rawRedis(REDIS_URL);
    const flush = async () => {
      const nodes = 'nodes' in raw && typeof raw.nodes === 'function' ? raw.nodes('master') : [raw];
      await Promise.all(nodes.map((n) => n.script('FLUSH')));
    };
    try {
      expect((await kv.slidingWindow('{ns1}:sw', 100, 60_000, BASE)).count).toBe(1);
      await flush();
      expect((await kv.slidingWindow('{ns1}:sw', 100, 60_000, BASE)).count).toBe(2);
      expect(await kv.incr('{ns1}:n', 10_000)).toBe(1);
      await flush();
      expect(await kv.incr('{ns1}:n', 10_000)).toBe(2);
      // Flushes racing a burst: every call still counts exactly once.
      const burst = Array.from({ length: 40 }, (_, i) => (i % 10 === 0 ? flush().then(() => null) : kv.incr('{ns1}:m', 10_000)));
      await Promise.all(burst);
      expect(await kv.incr('{ns1}:m', 10_000)).toBe(37);
    } finally {
      raw.disconnect();
    }
  });

  it('reports a throwing handler without starving the others', async () => {
    const errors: unknown[] = [];
    const kv = createMemoryKv({ onHandlerError: (err) => errors.push(err) });
    const got: string[] = [];
    await kv.subscribe('c', () => {
      throw new Error('handler bug');
    });
    await kv.subscribe('c', (m) => got.push(m));
    await kv.publish('c', 'x');
    await waitFor(() => got.length === 1 && errors.length === 1);
    await kv.close();
  });

  it('refuses a clock together with a shared backend', () => {
    expect(() => createMemoryKv({ backend: createMemoryBackend(), now: () => 0 })).toThrow(TypeError);
  });
});

describe('redis specifics', () => {
  it('prefixes every key it writes', async () => {
    const kv = track(await createRedisKv(REDIS_URL, { prefix: PREFIX }));
    await kv.set('{r1}:k', 'v');
    await kv.incr('{r1}:n', 10_000);
    await kv.sadd('{r1}:s', 'm', 10_000);
    await kv.slidingWindow('{r1}:sw', 5, 1_000, BASE);
    const raw = await rawRedis(REDIS_URL);
    try {
      const keys = (await scanKeys(raw, `${PREFIX}{r1}:*`)).sort();
      expect(keys).toEqual([`${PREFIX}{r1}:k`, `${PREFIX}{r1}:n`, `${PREFIX}{r1}:s`, `${PREFIX}{r1}:sw`]);
      expect(await raw.pttl(`${PREFIX}{r1}:sw`)).toBeGreaterThan(1_000);
      expect(await scanKeys(raw, '{r1}:*')).toEqual([]);
    } finally {
      raw.disconnect();
    }
  });

  it('reports a throwing handler without starving the others', async () => {
    const errors: unknown[] = [];
    const kv = track(await createRedisKv(REDIS_URL, { prefix: PREFIX, onHandlerError: (err) => errors.push(err) }));
    const got: string[] = [];
    await kv.subscribe('boom', () => {
      throw new Error('handler bug');
    });
    await kv.subscribe('boom', (m) => got.push(m));
    await kv.publish('boom', 'x');
    await waitFor(() => got.length === 1 && errors.length === 1);
  });

  it('fails fast with KvUnavailableError when Redis is unreachable', async () => {
    const started = Date.now();
    const kv = track(await createRedisKv('redis://127.0.0.1:1', { prefix: PREFIX }));
    await expect(kv.get('{r2}:k')).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(kv.ping()).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(kv.subscribe('c', () => {})).rejects.toBeInstanceOf(KvUnavailableError);
    expect(Date.now() - started).toBeLessThan(3_000);
    await kv.close();
  });

  singleServerIt('recovers by itself, subscriptions included, when Redis comes back', async () => {
    const proxy = await startProxy(0);
    const kv = track(await createRedisKv(`redis://127.0.0.1:${proxy.port}`, { prefix: PREFIX }));
    const direct = track(await createRedisKv(REDIS_URL, { prefix: PREFIX }));
    const got: string[] = [];
    await kv.subscribe('recover', (m) => got.push(m));
    await kv.set('{r3}:k', 'v');

    expect(kv.subscriptionsLive()).toBe(true);
    await proxy.stop();
    const down = Date.now();
    await expect(kv.get('{r3}:k')).rejects.toBeInstanceOf(KvUnavailableError);
    await expect(kv.ping()).rejects.toBeInstanceOf(KvUnavailableError);
    expect(Date.now() - down).toBeLessThan(1_000);
    // Caches that rely on pub/sub invalidation must see that messages cannot arrive now.
    expect(kv.subscriptionsLive()).toBe(false);

    const again = await startProxy(proxy.port);
    try {
      const deadline = Date.now() + 3_000;
      for (;;) {
        try {
          await kv.ping();
          break;
        } catch (err) {
          expect(err).toBeInstanceOf(KvUnavailableError);
          if (Date.now() > deadline) throw err;
          await sleep(50);
        }
      }
      expect(await kv.get('{r3}:k')).toBe('v');
      // The subscriber connection resubscribes on its own; publish until a message gets through.
      const until = Date.now() + 3_000;
      while (got.length === 0 && Date.now() < until) {
        await direct.publish('recover', 'back');
        await sleep(50);
      }
      expect(got[0]).toBe('back');
      expect(kv.subscriptionsLive()).toBe(true);
    } finally {
      await kv.close();
      await again.stop();
    }
  });

  singleServerIt('times out calls on a server that stops answering, then drops the connection and recovers', async () => {
    const proxy = await startProxy(0);
    const kv = track(await createRedisKv(`redis://127.0.0.1:${proxy.port}`, { prefix: PREFIX }));
    try {
      await kv.set('{r4}:k', 'v');
      proxy.silence(true);
      const started = Date.now();
      await expect(kv.get('{r4}:k')).rejects.toBeInstanceOf(KvUnavailableError);
      expect(Date.now() - started).toBeLessThan(3_000);
      proxy.silence(false);
      // Replies to the swallowed commands never come; only a fresh connection answers again.
      const deadline = Date.now() + 3_000;
      let value: string | null = null;
      while (Date.now() < deadline) {
        value = await kv.get('{r4}:k').catch(() => null);
        if (value !== null) break;
        await sleep(50);
      }
      expect(value).toBe('v');
    } finally {
      await kv.close();
      await proxy.stop();
    }
  });

  it('builds keys whose hash tag is (tenant, unit), braces kept out of the tag', () => {
    expect(kvKey('t1', 'sess', 'u1', 's1')).toBe('t1:sess:{t1:u1}:s1');
    expect(kvKey(null, 'rl', 'lockouts')).toBe('platform:rl:{platform:lockouts}');
    expect(hashTag(kvKey('t1', 'user-sess', 'u1'))).toBe('t1:u1');
    expect(hashTag(kvKey('t1', 'rl', 'default:GET /x/{id}:1.2.3.4'))).toBe('t1:default:GET /x/%7Bid%7D:1.2.3.4');
    expect(hashTag(kvKey('t1', 'idem', 'd', 'takeover:{x}'))).toBe('t1:d');
    expect(hashTag('plain')).toBe('plain');
    expect(hashTag('a{}b{c}')).toBe('a{}b{c}');
  });

  it('parses redis+cluster URLs', () => {
    expect(parseClusterUrl('redis+cluster://h1:7000,h2:7001,[::1]:7002')).toEqual({
      nodes: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://app:p%40ss@h1/')).toEqual({
      nodes: [{ host: 'h1', port: 6379 }],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(() => parseClusterUrl('redis+cluster://')).toThrow(TypeError);
  });
});

/** A TCP relay to the real Redis that can be cut (connections dropped) or silenced (bytes swallowed). */
async function startProxy(port: number): Promise<{ port: number; silence(on: boolean): void; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let silent = false;
  const target = new URL(REDIS_URL);
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port || 6379), target.hostname);
    for (const [from, to] of [
      [down, up],
      [up, down],
    ]) {
      sockets.add(from);
      from.on('data', (chunk) => silent || to.write(chunk));
      from.on('error', () => {});
      from.on('close', () => {
        to.destroy();
        sockets.delete(from);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    silence: (on) => {
      silent = on;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
