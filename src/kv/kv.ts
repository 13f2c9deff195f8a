/**
 * The key–value port (Redis in production, an in-process store in embedded mode).
 * Every method has the same semantics on both implementations; multi-step operations are one
 * Lua script in Redis and one synchronous step in memory, so both answer alike under concurrency.
 * Keys are given without the store's namespace prefix; the implementation adds it.
 * Callers build keys with `kvKey()`: `<tenant>:<area>:{<tenant>:<unit>}[:<part>…]`, whose hash tag is
 * the smallest unit a multi-key operation needs together (a user's sessions and their index, one
 * rate-limit bucket, one idempotency record), never the tenant, so one busy tenant spreads over every
 * Redis Cluster master (docs/scaling.md, "Redis key layout").
 */
export interface SlidingWindowResult {
  /** true when this hit was admitted (and counted). */
  allowed: boolean;
  /** the weighted count in the window after this call (admitted hits only). */
  count: number;
  /** how many more hits would be admitted now. */
  remaining: number;
  /** ms until the window has room again (0 when allowed and remaining > 0). */
  retryAfterMs: number;
  /** ms until the window is fully reset (for RateLimit-Reset). */
  resetMs: number;
}

/** slidingWindowLease's answer (see leaseStep in sliding-window.ts). */
export interface LeaseResult extends SlidingWindowResult {
  /** hits reserved (already counted) for the caller to admit locally. */
  granted: number;
  /** the window index they were counted in. */
  idx: number;
}

export interface SetOptions {
  /** time to live in milliseconds; omitted = no expiry. */
  ttlMs?: number;
  /** only set when the key does not exist (SET NX). */
  nx?: boolean;
  /**
   * only set when the key exists (SET XX): an update can never recreate a key deleted meanwhile. Without
   * `ttlMs` the key keeps its remaining TTL (KEEPTTL).
   */
  xx?: boolean;
}

/** One write of an atomic batch (`Kv.writeAll`). */
export type KvWrite =
  | { op: 'set'; key: string; value: string; ttlMs?: number }
  | { op: 'del'; keys: string[] }
  | { op: 'sadd'; key: string; member: string; ttlMs?: number }
  | { op: 'srem'; key: string; member: string };

export type Unsubscribe = () => Promise<void>;

export interface Kv {
  /** Which implementation this is, for /ready and logs: 'redis' | 'memory'. */
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /**
   * One round trip for several keys. The keys must share one hash tag (`kvKey`'s unit), as on a Redis
   * Cluster; otherwise it rejects with KvCrossSlotError on every implementation.
   */
  mget(keys: string[]): Promise<(string | null)[]>;
  /** Returns false only when `nx` is set and the key already existed. */
  set(key: string, value: string, opts?: SetOptions): Promise<boolean>;
  /** Deletes the keys; returns how many existed. Keys of several hash tags are deleted one tag at a time (not atomically). */
  del(...keys: string[]): Promise<number>;
  /** Atomically reads and deletes; null if absent. One racer gets the value. */
  getDel(key: string): Promise<string | null>;
  /** Atomically increments; the TTL is set when the key is created by this call. */
  incr(key: string, ttlMs: number): Promise<number>;
  /** Remaining TTL in ms; -1 no expiry; -2 absent. */
  pttl(key: string): Promise<number>;
  /** Adds a member to a set; the set's TTL is (re)set to ttlMs when given. */
  sadd(key: string, member: string, ttlMs?: number): Promise<void>;
  srem(key: string, member: string): Promise<void>;
  smembers(key: string): Promise<string[]>;
  /**
   * Applies the writes in order as one atomic step (Redis MULTI/EXEC; one synchronous step in memory):
   * no other client's command runs between them, so a record and its index entry are written or removed
   * together. The keys must share one hash tag (one Cluster slot); otherwise it rejects with
   * KvCrossSlotError, writing nothing, on every implementation.
   */
  writeAll(writes: KvWrite[]): Promise<void>;
  /**
   * Sliding-window limiter (two-window approximation, see implementation docs): counts a hit at
   * `nowMs` against `limit` per `windowMs` atomically. A refused hit is not counted.
   */
  slidingWindow(key: string, limit: number, windowMs: number, nowMs: number): Promise<SlidingWindowResult>;
  /**
   * The same window with a reservation for local admission (leaseStep in sliding-window.ts): counts `hit`
   * (0 or 1) like slidingWindow and, unless that hit is refused, also reserves up to `want` more hits,
   * counted at once, that the caller may admit without asking again. First, `giveBack` unused reserved
   * hits of window `giveIdx` are uncounted. Same key and state as slidingWindow.
   */
  slidingWindowLease?(key: string, limit: number, windowMs: number, nowMs: number, hit: 0 | 1, want: number, giveBack?: number, giveIdx?: number): Promise<LeaseResult>;
  /** Publishes to every subscriber on every instance sharing the store. */
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
  /**
   * The subscription generation: changes every time the subscriber connection goes down and every time it
   * is back with every channel re-subscribed (confirmed by the store). Odd while published messages reach
   * this instance's handlers, even while they may not (before the first subscription, during a reconnect,
   * after close). Messages published between two generations may never arrive, so a cache that relies on
   * invalidation messages serves and keeps only what it read under the current, odd generation (see
   * `createInvalidationEpoch` in src/lib/epoch-cache.ts). A plain integer read: cheap enough per request.
   */
  subscriptionGeneration(): number;
  /** Whether published messages can reach this instance's handlers right now: the generation is odd. */
  subscriptionsLive(): boolean;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Whether a subscription generation is one under which messages are delivered (odd). */
export const isLiveGeneration = (generation: number): boolean => (generation & 1) === 1;

/** Keeps `{` and `}` out of a tag's parts, so the hash tag always ends where `kvKey` closed it. */
const tagSafe = (part: string): string => part.replace(/[{}%]/g, (c) => encodeURIComponent(c));

/**
 * Builds a key: `<tenant>:<area>:{<tenant>:<unit>}` followed by `:<part>` for each part (`platform`
 * stands for the tenant of platform-wide keys). The `{…}` section is the Redis Cluster hash tag, so every
 * key built with the same (tenant, unit) lands in one slot and can go in one MGET, MULTI or script, and
 * nothing else is forced together. `unit` is the smallest set of keys an atomic operation touches: the
 * user for sessions, the bucket for a rate limit, the record for idempotency (docs/scaling.md).
 */
export function kvKey(tenantId: string | null, area: string, unit: string, ...parts: string[]): string {
  const scope = tagSafe(tenantId ?? 'platform');
  return [scope, area, `{${scope}:${tagSafe(unit)}}`, ...parts].join(':');
}

/** The part of a key Redis Cluster hashes: the first `{…}` section when non-empty, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Whether every key has the same hash tag (so one Cluster slot): what mget and writeAll require. */
export function oneHashTag(keys: readonly string[]): boolean {
  if (keys.length < 2) return true;
  const first = hashTag(keys[0]!);
  return keys.every((key) => hashTag(key) === first);
}
