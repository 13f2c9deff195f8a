import { DEFAULT_PREFIX, ttlArg, windowArgs } from './args.js';
import { oneHashTag, type Kv, type SetOptions, type SlidingWindowResult, type Unsubscribe } from './kv.js';
import { KvCrossSlotError, KvUnavailableError, reportHandlerError } from './kv-errors.js';
import { MemoryBackend, type MemoryEntry, type MemoryValue } from './memory-backend.js';
import { leaseStep, slidingWindowStep } from './sliding-window.js';

export { createMemoryBackend, MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';

export interface MemoryKvOptions {
  /** namespace for keys and channels (default 'ap:'). */
  prefix?: string;
  /** clock for TTLs when this handle creates its own backend; a shared backend brings its own. */
  now?: () => number;
  /** share data and pub/sub with other handles (simulates several app instances on one Redis). */
  backend?: MemoryBackend;
  /** called when a subscriber's handler throws (default: process warning). */
  onHandlerError?: (err: unknown, channel: string) => void;
}

type Typed<T extends MemoryValue['type']> = MemoryEntry & { data: Extract<MemoryValue, { type: T }> };

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/**
 * In-process Kv with the Redis implementation's semantics: each method runs synchronously on the
 * backend (so it is atomic), TTLs use the backend clock, pub/sub delivers asynchronously.
 * After close() every method rejects with KvUnavailableError; the backend's data survives.
 */
export function createMemoryKv(opts: MemoryKvOptions = {}): Kv {
  if (opts.backend && opts.now) throw new TypeError('createMemoryKv: pass `now` to createMemoryBackend when sharing a backend');
  const backend = opts.backend ?? new MemoryBackend({ now: opts.now });
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const onHandlerError = opts.onHandlerError ?? reportHandlerError;
  const mine = new Map<string, Set<(message: string) => void>>();
  let closed = false;
  backend.attach();

  /** Runs `fn` as one synchronous step, rejecting (never throwing synchronously) like a network call. */
  function op<T>(fn: () => T): Promise<T> {
    if (closed) return Promise.reject(new KvUnavailableError('kv unavailable: memory store is closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The live entry at `key` holding a `type` value; throws WRONGTYPE like Redis for another type. */
  function read<T extends MemoryValue['type']>(key: string, type: T): Typed<T> | undefined {
    const entry = backend.live(prefix + key);
    if (!entry) return undefined;
    if (entry.data.type !== type) throw new Error(WRONGTYPE);
    return entry as Typed<T>;
  }

  function write(key: string, data: MemoryValue, ttlMs: number | null): void {
    backend.entries.set(prefix + key, { data, expiresAt: ttlMs === null ? null : backend.now() + ttlMs });
  }

  function setNow(key: string, value: string, setOpts: SetOptions): boolean {
    const ttl = setOpts.ttlMs === undefined ? null : ttlArg(setOpts.ttlMs);
    // The existence check only for conditional sets: a plain set (the common case) is one map write.
    const existing = setOpts.nx || setOpts.xx ? backend.live(prefix + key) : undefined;
    if (setOpts.nx && existing) return false;
    if (setOpts.xx && !existing) return false;
    if (setOpts.xx && ttl === null) {
      // KEEPTTL: the key keeps its expiry (and, like Redis, a string replaces any other type).
      existing!.data = { type: 'string', value };
      return true;
    }
    write(key, { type: 'string', value }, ttl);
    return true;
  }

  function delNow(keys: string[]): number {
    let removed = 0;
    for (const key of new Set(keys)) {
      if (backend.live(prefix + key)) removed += 1;
      backend.entries.delete(prefix + key);
    }
    return removed;
  }

  function saddNow(key: string, member: string, ttlMs: number | undefined): void {
    const ttl = ttlMs === undefined ? null : ttlArg(ttlMs);
    const entry = read(key, 'set');
    if (!entry) return write(key, { type: 'set', value: new Set([member]) }, ttl);
    entry.data.value.add(member);
    if (ttl !== null) entry.expiresAt = backend.now() + ttl;
  }

  function sremNow(key: string, member: string): void {
    const entry = read(key, 'set');
    if (!entry) return;
    entry.data.value.delete(member);
    if (entry.data.value.size === 0) backend.entries.delete(prefix + key);
  }

  function unlink(channel: string, handler: (message: string) => void): void {
    mine.get(channel)?.delete(handler);
    if (mine.get(channel)?.size === 0) mine.delete(channel);
    const all = backend.channels.get(channel);
    all?.delete(handler);
    if (all?.size === 0) backend.channels.delete(channel);
  }

  return {
    kind: 'memory',

    get: (key) => op(() => read(key, 'string')?.data.value ?? null),

    // Multi-key operations refuse keys of several hash tags as a Redis Cluster would (CROSSSLOT), so the
    // embedded suite catches a key layout that only a cluster would reject.
    mget: (keys) =>
      op(() => {
        if (!oneHashTag(keys)) throw new KvCrossSlotError('mget');
        return keys.map((key) => {
          const data = backend.live(prefix + key)?.data;
          return data?.type === 'string' ? data.value : null;
        });
      }),

    set: (key, value, setOpts: SetOptions = {}) => op(() => setNow(key, value, setOpts)),

    del: (...keys) => op(() => delNow(keys)),

    getDel: (key) =>
      op(() => {
        const value = read(key, 'string')?.data.value ?? null;
        backend.entries.delete(prefix + key);
        return value;
      }),

    incr: (key, ttlMs) =>
      op(() => {
        const ttl = ttlArg(ttlMs);
        const entry = read(key, 'string');
        if (!entry) {
          write(key, { type: 'string', value: '1' }, ttl);
          return 1;
        }
        const next = Number(entry.data.value) + 1;
        if (!/^(0|-?[1-9]\d*)$/.test(entry.data.value) || !Number.isSafeInteger(next)) {
          throw new Error('ERR value is not an integer or out of range');
        }
        entry.data.value = String(next);
        return next;
      }),

    pttl: (key) =>
      op(() => {
        const entry = backend.live(prefix + key);
        if (!entry) return -2;
        return entry.expiresAt === null ? -1 : entry.expiresAt - backend.now();
      }),

    sadd: (key, member, ttlMs) => op(() => saddNow(key, member, ttlMs)),

    srem: (key, member) => op(() => sremNow(key, member)),

    smembers: (key) => op(() => [...(read(key, 'set')?.data.value ?? [])]),

    writeAll: (writes) =>
      op(() => {
        if (!oneHashTag(writes.flatMap((w) => (w.op === 'del' ? w.keys : [w.key])))) throw new KvCrossSlotError('writeAll');
        // Like MULTI/EXEC: a write that fails (a type error) does not undo or stop the others; the first
        // error is reported once all have run.
        let first: unknown = null;
        for (const w of writes) {
          try {
            if (w.op === 'set') setNow(w.key, w.value, { ttlMs: w.ttlMs });
            else if (w.op === 'del') delNow(w.keys);
            else if (w.op === 'sadd') saddNow(w.key, w.member, w.ttlMs);
            else sremNow(w.key, w.member);
          } catch (err) {
            first ??= err;
          }
        }
        if (first) throw first;
      }),

    slidingWindow: (key, limit, windowMs, nowMs) =>
      op((): SlidingWindowResult => {
        const args = windowArgs(limit, windowMs, nowMs);
        const stored = read(key, 'window');
        const step = slidingWindowStep(stored?.data.value ?? null, args.limit, args.windowMs, args.nowMs);
        if (step.write) write(key, { type: 'window', value: step.write }, 2 * args.windowMs);
        return step.result;
      }),

    slidingWindowLease: (key, limit, windowMs, nowMs, hit, want, giveBack = 0, giveIdx = 0) =>
      op(() => {
        const args = windowArgs(limit, windowMs, nowMs);
        const stored = read(key, 'window');
        const step = leaseStep(stored?.data.value ?? null, args.limit, args.windowMs, args.nowMs, hit, Math.max(0, Math.floor(want)), Math.max(0, Math.floor(giveBack)), giveIdx);
        if (step.write) write(key, { type: 'window', value: step.write }, 2 * args.windowMs);
        return step.result;
      }),

    publish: (channel, message) =>
      op(() => {
        const full = prefix + channel;
        const handlers = [...(backend.channels.get(full) ?? [])];
        if (handlers.length === 0) return;
        // Like Redis, delivery happens after publish returns and reaches those subscribed at publish
        // time, minus any that unsubscribed meanwhile (as the Redis handle drops them locally at once).
        queueMicrotask(() => {
          for (const handler of handlers) {
            if (!backend.channels.get(full)?.has(handler)) continue;
            try {
              handler(message);
            } catch (err) {
              onHandlerError(err, channel);
            }
          }
        });
      }),

    // Delivery is in-process: it works as long as the store is open (one live generation, then a dead one).
    subscriptionGeneration: () => (closed ? 2 : 1),
    subscriptionsLive: () => !closed,

    subscribe: (channel, handler) =>
      op((): Unsubscribe => {
        const full = prefix + channel;
        // A private wrapper so subscribing the same function twice yields two independent subscriptions.
        const wrapped = (message: string): void => handler(message);
        for (const registry of [mine, backend.channels]) {
          let set = registry.get(full);
          if (!set) registry.set(full, (set = new Set()));
          set.add(wrapped);
        }
        return async () => unlink(full, wrapped);
      }),

    ping: () => op(() => undefined),

    close: async () => {
      if (closed) return;
      closed = true;
      for (const [channel, handlers] of [...mine]) for (const handler of [...handlers]) unlink(channel, handler);
      backend.detach();
    },
  };
}
