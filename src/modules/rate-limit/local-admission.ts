import type { Kv, LeaseResult, SlidingWindowResult } from '../../kv/kv.js';
import { LOCAL_ADMISSION } from './limits.js';

/** One bucket's local state on this instance (see createLocalAdmission). */
interface Bucket {
  limit: number;
  w: number;
  /** window index the lease was counted in; the lease is not used once the clock is past that window */
  idx: number;
  /** reserved hits this instance may still admit without asking the store */
  lease: number;
  /** the window's count as last known here, minus this instance's unused lease (for RateLimit-Remaining) */
  base: number;
  /** hits seen since the last renewal: sizes the next lease; 0 at a tick = idle, the lease goes back */
  demand: number;
  /** clock ms until which hits are refused here without asking (0: none); never past the store's Retry-After */
  refusedUntil: number;
  retryAt: number;
  resetAt: number;
  /** the store call under way for this bucket: hits that find no lease wait for it instead of asking too */
  inflight: Promise<unknown> | null;
}

/**
 * Local admission for the `default` limit class on a shared store (docs/decisions.md "Local admission").
 *
 * Every hit is still counted in the same Redis sliding window as before, but in advance: when a bucket
 * is busy on this instance, the store *reserves* a lease of hits for it (counted in the window at once,
 * LEASE_LUA), and this instance admits that many from memory. At each tick (every `intervalMs`) one
 * pipelined round trip tops up the lease of every bucket seen in the last interval to that interval's
 * demand (at most `leaseShare` of the limit) and gives back the unused lease of every bucket that went
 * quiet. So:
 *  - the limit stays global and is never exceeded: admitted + reserved hits never pass the window's
 *    limit, whatever the number of instances (overshoot 0 against the exact limiter);
 *  - a bucket refused by the store anywhere (no free hit left) is refused on every instance as soon as
 *    the lease that instance holds is spent, and a lease is at most one interval of that instance's
 *    own traffic on the bucket (and at most leaseShare × limit): within about one interval; a quiet
 *    instance gives its lease back at the next tick;
 *  - a warm bucket makes no store round trip per request; a hit that finds no lease (first hit, demand
 *    that outgrew its lease) asks the store at once, and concurrent ones wait for that answer (so a
 *    burst costs one round trip, not one each); when the store is down that fails closed (503);
 *  - a limit too small for a lease of 1 (`limit × leaseShare < 1`) is counted exactly, as before.
 */
export function createLocalAdmission(kv: Kv & Required<Pick<Kv, 'slidingWindowLease'>>) {
  const buckets = new Map<string, Bucket>();
  let timer: ReturnType<typeof setInterval> | null = null;
  let nowOf: () => number = Date.now;

  const capOf = (limit: number): number => Math.floor(limit * LOCAL_ADMISSION.leaseShare);

  /** Admits from the lease, or repeats a refusal the store gave less than an interval ago, or null. */
  function take(b: Bucket, nowMs: number): SlidingWindowResult | null {
    if (b.lease > 0 && Math.floor(nowMs / b.w) <= b.idx) {
      b.lease -= 1;
      b.base += 1;
      return { allowed: true, count: b.base, remaining: Math.max(0, b.limit - b.base), retryAfterMs: 0, resetMs: 2 * b.w - Math.max(0, nowMs - b.idx * b.w) };
    }
    if (b.refusedUntil > nowMs) {
      return { allowed: false, count: Math.max(b.base, b.limit), remaining: 0, retryAfterMs: Math.max(1, b.retryAt - nowMs), resetMs: Math.max(1, b.resetAt - nowMs) };
    }
    return null;
  }

  /** Applies a store answer: the grant joins the lease (an older window's leftover is dropped). */
  function apply(b: Bucket, r: LeaseResult, nowMs: number): void {
    if (r.idx !== b.idx) b.lease = 0;
    b.lease += r.granted;
    b.idx = r.idx;
    b.base = r.count - b.lease;
    b.retryAt = nowMs + r.retryAfterMs;
    b.resetAt = nowMs + r.resetMs;
    // A full window and nothing left here: refuse without asking until it may have room, at most one interval.
    const full = (!r.allowed || r.remaining === 0) && b.lease === 0;
    b.refusedUntil = full ? nowMs + Math.min(Math.max(1, r.retryAfterMs), LOCAL_ADMISSION.intervalMs) : 0;
  }

  /** One store call for `b` (hit 0: a renewal); hits without a lease wait for it. */
  function send(key: string, b: Bucket, nowMs: number, hit: 0 | 1, want: number): Promise<LeaseResult> {
    // An unused lease of a past window goes back with this call.
    const stale = b.lease > 0 && Math.floor(nowMs / b.w) > b.idx;
    const giveBack = stale ? b.lease : 0;
    if (stale) b.lease = 0;
    const p = kv.slidingWindowLease(key, b.limit, b.w, nowMs, hit, want, giveBack, b.idx).then(
      (r) => {
        if (b.inflight === p) b.inflight = null;
        if (buckets.get(key) === b) apply(b, r, nowMs);
        return r;
      },
      (err: unknown) => {
        if (b.inflight === p) b.inflight = null;
        // Store unreachable: forget the bucket (its lease stays counted); the next hit asks the store itself.
        if (buckets.get(key) === b) buckets.delete(key);
        throw err;
      },
    );
    b.inflight = p;
    return p;
  }

  /** The hit's own answer: the count without the lease just reserved (RateLimit-Remaining tells what others may still use). */
  const own = (r: LeaseResult, limit: number): SlidingWindowResult => (r.allowed
    ? { allowed: true, count: r.count - r.granted, remaining: Math.max(0, limit - (r.count - r.granted)), retryAfterMs: r.retryAfterMs, resetMs: r.resetMs }
    : r);

  function tick(): void {
    const now = nowOf();
    for (const [key, b] of buckets) {
      if (b.inflight) continue;
      if (b.demand === 0) {
        // Quiet for a whole interval: the unused lease goes back and the entry is dropped.
        buckets.delete(key);
        if (b.lease > 0) kv.slidingWindowLease(key, b.limit, b.w, now, 0, 0, b.lease, b.idx).catch(() => {});
        continue;
      }
      const want = Math.min(capOf(b.limit), b.demand);
      b.demand = 0;
      const current = Math.floor(now / b.w) <= b.idx;
      const topUp = current ? want - b.lease : want;
      if (topUp > 0 || !current) send(key, b, now, 0, Math.max(0, topUp)).catch(() => {});
    }
  }

  return {
    /** Whether `limit` is large enough for leases (else the caller counts exactly). */
    leases: (limit: number): boolean => capOf(limit) >= 1,

    /**
     * Decides a hit from memory when it can: the result, or null when the store must be asked (then call
     * `ask`). Synchronous, so a warm request passes the limiter without a promise.
     */
    local(key: string, limit: number, w: number, nowMs: number): SlidingWindowResult | null {
      const b = buckets.get(key);
      if (!b || b.limit !== limit || b.w !== w) return null;
      b.demand += 1;
      return take(b, nowMs);
    },

    /** Counts the hit in the store and takes a lease sized to this interval's demand so far (after `local` said null). */
    async ask(key: string, limit: number, w: number, nowMs: number): Promise<SlidingWindowResult> {
      let b = buckets.get(key);
      if (b && (b.limit !== limit || b.w !== w)) {
        // The tenant's limit changed: start over (the old lease stays counted).
        buckets.delete(key);
        b = undefined;
      }
      // A call for this bucket is under way: its grant is sized for the hits waiting on it.
      while (b?.inflight) {
        await b.inflight.catch(() => {});
        const r = take(b, nowMs);
        if (r) return r;
        const again = buckets.get(key);
        b = again && again.limit === limit && again.w === w ? again : undefined;
      }
      if (!b) {
        if (buckets.size >= LOCAL_ADMISSION.maxBuckets) {
          const r = await kv.slidingWindowLease(key, limit, w, nowMs, 1, 0);
          return r;
        }
        b = { limit, w, idx: Math.floor(nowMs / w), lease: 0, base: 0, demand: 1, refusedUntil: 0, retryAt: 0, resetAt: 0, inflight: null };
        buckets.set(key, b);
        return own(await send(key, b, nowMs, 1, 0), limit);
      }
      // Hits already seen here this interval (this one excluded) say how many more are coming.
      return own(await send(key, b, nowMs, 1, Math.min(capOf(limit), Math.max(0, b.demand - 1))), limit);
    },

    /** Starts the renewal timer; `now` is the limiter's clock (window arithmetic). Returns the stop function. */
    start(now: () => number): () => void {
      nowOf = now;
      if (!timer) {
        timer = setInterval(tick, LOCAL_ADMISSION.intervalMs);
        timer.unref();
      }
      return () => {
        if (timer) clearInterval(timer);
        timer = null;
        buckets.clear();
      };
    },

    /** Buckets held in memory now (bounded by LOCAL_ADMISSION.maxBuckets). */
    size: (): number => buckets.size,
  };
}

export type LocalAdmission = ReturnType<typeof createLocalAdmission>;
