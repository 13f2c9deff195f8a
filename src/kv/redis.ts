import { Cluster } from 'ioredis';
import { DEFAULT_PREFIX, ttlArg, windowArgs } from './args.js';
import { oneHashTag, type Kv, type LeaseResult, type SetOptions, type SlidingWindowResult } from './kv.js';
import { KvCrossSlotError, isNoScript, reportHandlerError, toKvError } from './kv-errors.js';
import { connectOnce, createClient, shutdown } from './redis-connection.js';
import { createSubscriptions } from './redis-pubsub.js';
import { createTurnBatcher } from './redis-batch.js';
import { LEASE_LUA, SLIDING_WINDOW_LUA } from './sliding-window.js';
import { observeCommand, observing } from '../modules/metrics/observe.js';
import { redisSubscribers } from '../modules/metrics/registry.js';

export { parseClusterUrl } from './redis-connection.js';

export interface RedisKvOptions {
  /** namespace for keys and channels (default 'ap:'). */
  prefix?: string;
  /** called when a subscriber's handler throws (default: process warning). */
  onHandlerError?: (err: unknown, channel: string) => void;
}

// Only the creating call sets the TTL; INCR alone would leave a key without expiry if the process
// died between INCR and PEXPIRE.
const INCR_TTL_LUA = `
redis.call('SET', KEYS[1], 0, 'PX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])
`;

const SADD_TTL_LUA = `
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

/** The Lua commands registered with defineCommand (EVALSHA with EVAL fallback). */
interface Scripts {
  apSlidingWindow(key: string, limit: number, windowMs: number, nowMs: number): Promise<number[]>;
  apLease(key: string, limit: number, windowMs: number, nowMs: number, hit: number, want: number, giveBack: number, giveIdx: number): Promise<[number, number, number, number, number, number, string]>;
  apIncrTtl(key: string, ttlMs: number): Promise<number>;
  apSaddTtl(key: string, member: string, ttlMs: number): Promise<null>;
}

/**
 * Connects to Redis (redis://, rediss://) or Redis Cluster (redis+cluster://h1:p1,h2:p2) and returns
 * the Kv. Resolves even when Redis is down (calls then reject with KvUnavailableError within ~2 s and
 * the client reconnects by itself); throws TypeError for a malformed URL.
 */
export async function createRedisKv(url: string, opts: RedisKvOptions = {}): Promise<Kv> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const onHandlerError = opts.onHandlerError ?? reportHandlerError;
  const client = createClient(url, { pipelined: true });
  // ioredis forbids ordinary commands on a subscribed connection, so pub/sub gets its own, opened on first use.
  const subscriber = createClient(url, { subscriber: true });
  const scripts = client as unknown as Scripts;
  client.defineCommand('apSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
  client.defineCommand('apLease', { numberOfKeys: 1, lua: LEASE_LUA });
  client.defineCommand('apIncrTtl', { numberOfKeys: 1, lua: INCR_TTL_LUA });
  client.defineCommand('apSaddTtl', { numberOfKeys: 1, lua: SADD_TTL_LUA });
  const clustered = client instanceof Cluster;
  // The per-request commands (rate limit, session check) share one pipeline per event-loop turn on a
  // single server; a Cluster keeps ioredis's per-slot auto-pipelining.
  const batch = clustered ? null : createTurnBatcher(client);
  const subscriptions = createSubscriptions(subscriber, (err, channel) => onHandlerError(err, channel.slice(prefix.length)));
  let closed = false;

  await connectOnce(client);
  // authplane_redis_pubsub_connected: whether cache invalidations can reach this instance now.
  const removeSubscriberReading = redisSubscribers.add(() => subscriptions.generation() % 2 === 1);

  const k = (key: string): string => prefix + key;

  /** Runs one store call (`command`: its fixed metric name), turning connection-level failures into KvUnavailableError. */
  async function call<T>(command: string, fn: () => Promise<T>): Promise<T> {
    try {
      // Timed and traced when metrics or tracing are on (src/modules/metrics/observe.ts).
      return await (observing() ? observeCommand(command, fn) : fn());
    } catch (first) {
      // NOSCRIPT: the script never ran. ioredis resends once as EVAL, but after a Cluster master restarts a
      // command retried on CLUSTERDOWN can come back NOSCRIPT again (its connection was marked "loaded" when
      // the EVAL was written, not when it succeeded); one more attempt reloads it.
      if (!isNoScript(first)) throw fail(first);
      try {
        return await fn();
      } catch (err) {
        throw fail(err);
      }
    }
  }

  /** The error a failed store call rejects with: KvUnavailableError for connection-level failures. */
  function fail(err: unknown): unknown {
    // A timed-out command stays queued on the connection and would be paired with the next reply
    // if its own never comes; a fresh connection is the only clean state.
    if (err instanceof Error && err.message === 'Command timed out' && client.status === 'ready') client.disconnect(true);
    return toKvError(err);
  }

  /** Whether keys can go in one multi-key command (Cluster rejects keys from different slots). */
  const oneSlot = (keys: string[]): boolean => !clustered || oneHashTag(keys);

  return {
    kind: 'redis',

    get: (key) => call('get', () => (batch ? batch.send<string | null>((p) => p.get(k(key))) : client.get(k(key)))),

    mget: async (keys) => {
      // Checked on a single server too, so that the standalone suite catches what a Cluster would refuse.
      if (!oneHashTag(keys)) throw new KvCrossSlotError('mget');
      return call('mget', async () => {
        if (keys.length === 0) return [];
        const full = keys.map(k);
        if (batch) return batch.send<(string | null)[]>((p) => p.mget(...full));
        return client.mget(...full);
      });
    },

    set: (key, value, setOpts: SetOptions = {}) =>
      call('set', async () => {
        const ttl = setOpts.ttlMs === undefined ? undefined : ttlArg(setOpts.ttlMs);
        const args: (string | number)[] = [];
        if (ttl !== undefined) args.push('PX', ttl);
        else if (setOpts.xx) args.push('KEEPTTL');
        if (setOpts.nx) args.push('NX');
        if (setOpts.xx) args.push('XX');
        const reply = (await client.call('SET', k(key), value, ...args)) as string | null;
        return reply === 'OK';
      }),

    del: (...keys) =>
      call('del', async () => {
        if (keys.length === 0) return 0;
        const full = [...new Set(keys.map(k))];
        if (oneSlot(full)) return client.del(...full);
        const counts = await Promise.all(full.map((key) => client.del(key)));
        return counts.reduce((a, b) => a + b, 0);
      }),

    getDel: (key) => call('getdel', () => client.getdel(k(key))),

    incr: (key, ttlMs) => call('incr', () => scripts.apIncrTtl(k(key), ttlArg(ttlMs))),

    pttl: (key) => call('pttl', () => client.pttl(k(key))),

    sadd: (key, member, ttlMs) =>
      call('sadd', async () => {
        if (ttlMs === undefined) await client.sadd(k(key), member);
        else await scripts.apSaddTtl(k(key), member, ttlArg(ttlMs));
      }),

    srem: (key, member) =>
      call('srem', async () => {
        await client.srem(k(key), member);
      }),

    smembers: (key) => call('smembers', () => client.smembers(k(key))),

    writeAll: async (writes) => {
      if (!oneHashTag(writes.flatMap((w) => (w.op === 'del' ? w.keys : [w.key])))) throw new KvCrossSlotError('writeAll');
      return call('multi', async () => {
        if (writes.length === 0) return;
        const m = client.multi();
        for (const w of writes) {
          if (w.op === 'set') {
            if (w.ttlMs === undefined) m.set(k(w.key), w.value);
            else m.set(k(w.key), w.value, 'PX', ttlArg(w.ttlMs));
          } else if (w.op === 'del') {
            if (w.keys.length) m.del(...w.keys.map(k));
          } else if (w.op === 'sadd') {
            m.sadd(k(w.key), w.member);
            if (w.ttlMs !== undefined) m.pexpire(k(w.key), ttlArg(w.ttlMs));
          } else {
            m.srem(k(w.key), w.member);
          }
        }
        const results = await m.exec();
        // null: the transaction was aborted (EXECABORT); otherwise each reply may carry its own error.
        if (!results) throw new Error('kv transaction aborted');
        const failed = results.find(([err]) => err);
        if (failed) throw failed[0];
      });
    },

    slidingWindow: (key, limit, windowMs, nowMs) =>
      call('sliding_window', async (): Promise<SlidingWindowResult> => {
        const args = windowArgs(limit, windowMs, nowMs);
        const [allowed, count, remaining, retryAfterMs, resetMs] = batch
          ? await batch.send<number[]>((p) => (p as unknown as Scripts).apSlidingWindow(k(key), args.limit, args.windowMs, args.nowMs))
          : await scripts.apSlidingWindow(k(key), args.limit, args.windowMs, args.nowMs);
        return { allowed: allowed === 1, count, remaining, retryAfterMs, resetMs };
      }),

    // One key per call: a batch of renewals touching many buckets is a pipeline of these (per slot on a Cluster).
    slidingWindowLease: (key, limit, windowMs, nowMs, hit, want, giveBack = 0, giveIdx = 0) =>
      call('sliding_window_lease', async (): Promise<LeaseResult> => {
        const args = windowArgs(limit, windowMs, nowMs);
        const w = Math.max(0, Math.floor(want));
        const g = Math.max(0, Math.floor(giveBack));
        const [allowed, count, remaining, retryAfterMs, resetMs, granted, idx] = batch
          ? await batch.send<[number, number, number, number, number, number, string]>((p) => (p as unknown as Scripts).apLease(k(key), args.limit, args.windowMs, args.nowMs, hit, w, g, giveIdx))
          : await scripts.apLease(k(key), args.limit, args.windowMs, args.nowMs, hit, w, g, giveIdx);
        return { allowed: allowed === 1, count, remaining, retryAfterMs, resetMs, granted, idx: Number(idx) };
      }),

    publish: (channel, message) =>
      call('publish', async () => {
        await client.publish(k(channel), message);
      }),

    // Down at once when the subscriber connection drops; live again once every channel is re-subscribed.
    subscriptionGeneration: () => subscriptions.generation(),
    subscriptionsLive: () => (subscriptions.generation() & 1) === 1,

    subscribe: (channel, handler) =>
      subscriptions.subscribe(k(channel), handler).catch((err: unknown) => {
        throw toKvError(err);
      }),

    ping: () =>
      call('ping', async () => {
        await client.ping();
      }),

    close: async () => {
      if (closed) return;
      closed = true;
      removeSubscriberReading();
      subscriptions.clear();
      await Promise.all([shutdown(client), shutdown(subscriber)]);
    },
  };
}
