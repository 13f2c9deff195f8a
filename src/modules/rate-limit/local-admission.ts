import type { Kv, LeaseResult, SlidingWindowResult } from '../../kv/kv.js';
import { LOCAL_ADMISSION } from './limits.js';

/** One bucket's local state on this instance (see createLocalAdmission). */
interface Bucket {
  limit: number;
  w: number;
  /** window index the lease was counted in; the lease is void once the clock is past that window */
  idx: number;
  /** reserved hits this instance may still admit without asking the store */
  lease: number;
  /** the tick the lease was granted in: it is void after the next tick (at most ~2 intervals) */
  stamp: number;
  /** the window's count as last known here, minus this instance's unused lease (for RateLimit-Remaining) */
  base: number;
  /** hits seen since the last renewal: sizes the next lease; 0 at a tick = idle, the entry is dropped */
  demand: number;
  /** clock ms until which hits are refused here without asking (0: none); never past the store's own Retry-After */
  refusedUntil: number;
  retryAt: number;
  resetAt: number;
  renewing: boolean;
}

/**
 * Local admission for the `default` limit class on a shared store (docs/decisions.md "Local admission").
 *
 * Every hit is still counted in the same Redis sliding window as before, but in advance: when a bucket
 * is busy on this instance, the store *reserves* a lease of hits for it (counted in the window at once,
 * LEASE_LUA), and this instance admits that many from memory. Once per interval, one pipelined round
 * trip renews the leases of every bucket touched in the last interval, each sized to the bucket's
 * demand here over that interval and at most `leaseShare` of its limit; an unused lease simply lapses
 * (it stays counted). So:
 *  - the limit stays global and is never exceeded: admitted + reserved hits never pass the window's
 *    limit, whatever the number of instances (overshoot 0 against the exact limiter);
 *  - the price is under-admission: a lapsed lease is hits counted but never served, at most one
 *    interval of the bucket's own traffic on each instance and at most `leaseShare` × limit per
 *    instance per interval (only when a busy bucket goes quiet or its window turns over);
 *  - a bucket refused by the store anywhere is refused on every instance within one interval: leases
 *    live at most until the next renewal, and a renewal on a full window grants nothing and remembers
 *    the refusal until the store's Retry-After or the next interval, whichever comes first;
 *  - a warm bucket makes no store round trip per request; a hit that finds no lease (first hit, idle
 *    bucket, demand that outgrew its lease) asks the store at once (and fails closed when it is down);
 *  - a limit too small for a lease of 1 (`limit × leaseShare < 1`) is counted exactly, as before.
 */
export function createLocalAdmission(kv: Kv & Required<Pick<Kv, 'slidingWindowLease'>>) {
  const buckets = new Map<string, Bucket>();
  let tickNo = 0;
  let timer: ReturnType<typeof setInterval> | null = null;

  const capOf = (limit: number): number => Math.floor(limit * LOCAL_ADMISSION.leaseShare);

  function resetMsOf(b: Bucket, nowMs: number): number {
    return 2 * b.w - Math.max(0, nowMs - b.idx * b.w);
  }

  /** Applies a store answer: `replace` (a renewal) voids any older lease; an exact hit's grant adds to a current one. */
  function apply(b: Bucket, r: LeaseResult, nowMs: number, replace: boolean): void {
    const current = !replace && b.stamp === tickNo && b.idx === r.idx;
    b.lease = current ? b.lease + r.granted : r.granted;
    b.stamp = tickNo;
    b.idx = r.idx;
    b.base = r.count - b.lease;
    b.retryAt = nowMs + r.retryAfterMs;
    b.resetAt = nowMs + r.resetMs;
    // A full window: refuse here until it may have room again, for at most one interval.
    const full = r.remaining === 0 && b.lease === 0;
    b.refusedUntil = full ? nowMs + Math.min(Math.max(1, r.retryAfterMs), LOCAL_ADMISSION.intervalMs) : 0;
  }

  function tick(): void {
    tickNo += 1;
    for (const [key, b] of buckets) {
      if (b.renewing) continue;
      if (b.demand === 0) {
        // Idle for a whole interval: the lease lapses with the entry.
        buckets.delete(key);
        continue;
      }
      const want = Math.min(capOf(b.limit), b.demand);
      b.demand = 0;
      b.renewing = true;
      const now = nowOf();
      kv.slidingWindowLease(key, b.limit, b.w, now, 0, want).then(
        (r) => {
          b.renewing = false;
          if (buckets.get(key) === b) apply(b, r, now, true);
        },
        () => {
          // Store unreachable: drop the lease; the next hit asks the store itself (and fails closed).
          b.renewing = false;
          if (buckets.get(key) === b) buckets.delete(key);
        },
      );
    }
  }

  let nowOf: () => number = Date.now;

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
      if (b.lease > 0 && b.stamp >= tickNo - 1 && Math.floor(nowMs / w) <= b.idx) {
        b.lease -= 1;
        b.base += 1;
        const remaining = Math.max(0, limit - b.base);
        return { allowed: true, count: b.base, remaining, retryAfterMs: 0, resetMs: resetMsOf(b, nowMs) };
      }
      if (b.refusedUntil > nowMs) {
        return { allowed: false, count: Math.max(b.base, limit), remaining: 0, retryAfterMs: Math.max(1, b.retryAt - nowMs), resetMs: Math.max(1, b.resetAt - nowMs) };
      }
      return null;
    },

    /** Counts the hit in the store and takes a lease sized to this interval's demand so far. */
    async ask(key: string, limit: number, w: number, nowMs: number): Promise<SlidingWindowResult> {
      let b = buckets.get(key);
      if (b && (b.limit !== limit || b.w !== w)) {
        buckets.delete(key);
        b = undefined;
      }
      // Hits already seen here this interval (this one excluded) say how many more are coming.
      const want = b ? Math.min(capOf(limit), Math.max(0, b.demand - 1)) : 0;
      const r = await kv.slidingWindowLease(key, limit, w, nowMs, 1, want);
      const cur = buckets.get(key);
      if (cur && cur.limit === limit && cur.w === w) {
        apply(cur, r, nowMs, false);
      } else if (buckets.size < LOCAL_ADMISSION.maxBuckets) {
        const fresh: Bucket = { limit, w, idx: r.idx, lease: 0, stamp: tickNo, base: 0, demand: 1, refusedUntil: 0, retryAt: 0, resetAt: 0, renewing: false };
        apply(fresh, r, nowMs, true);
        buckets.set(key, fresh);
      }
      return r;
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

    /** Buckets held in memory now (bounded by LOCAL_ADMISSION.maxBuckets); for tests and the bench. */
    size: (): number => buckets.size,
  };
}

export type LocalAdmission = ReturnType<typeof createLocalAdmission>;
