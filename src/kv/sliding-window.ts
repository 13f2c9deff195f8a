/**
 * Two-window sliding-window limiter (the Cloudflare approximation), written twice with the same
 * arithmetic: `slidingWindowStep` for the memory store and `SLIDING_WINDOW_LUA` for Redis.
 *
 * Time is cut into fixed windows of `w` ms aligned to `floor(nowMs / w)`. A key keeps the current
 * window's count `cur` and the previous window's count `prev`. At offset `e` into the current
 * window the estimate is `cur + ceil(prev * (w - e) / w)`: the previous window's hits are assumed
 * spread uniformly, so the share still inside the trailing `w` ms is `(w - e) / w` of them. A hit is
 * admitted (and counted) iff estimate + 1 <= limit; a refused hit is not counted.
 *
 * Every operation is on integers below 2^53 (see windowArgs), and IEEE division is correctly
 * rounded, so `floor(a / b)` is exact and JavaScript and Redis Lua (both doubles) agree bit for bit.
 * Rounding the previous window's share up means rounding never admits more than the real-valued
 * formula would.
 *
 * Guarantee, for each key with non-decreasing nowMs:
 *  - at most `limit` hits are admitted in any aligned window [k*w, (k+1)*w);
 *  - in any interval of length w, [k*w + a, (k+1)*w + a) with 0 < a < w, at most
 *    limit + floor(P * (a - 1) / w) <= 2 * limit - 1 hits are admitted, where P is the number
 *    admitted in window k. The excess over `limit` only arises when window k's hits were bunched
 *    at its end (the uniform assumption is wrong); with uniform traffic the estimate is the true
 *    trailing count rounded up. Conversely, when window k's hits were bunched at its start, hits in
 *    window k+1 may be refused although the true trailing count is below `limit` (never past the
 *    end of window k+1).
 * A hit whose clock lags the stored window (skew between instances) is evaluated at the start of
 * the stored window, which is the most conservative point, so skew never resets a window early.
 */
import type { LeaseResult, SlidingWindowResult } from './kv.js';

/** Persisted limiter state: aligned window index and the hit counts of that window and its predecessor. */
export interface WindowState {
  idx: number;
  cur: number;
  prev: number;
}

/** The answer for one hit, and the state to store (null when nothing changes because it was refused). */
export interface WindowStep {
  result: SlidingWindowResult;
  write: WindowState | null;
}

/**
 * The window a hit at `nowMs` falls in, read from the stored state: its index, the time elapsed in it, and the
 * counts of that window and the one before. A clock behind the stored window is taken as its start.
 */
function windowAt(stored: WindowState | null, w: number, nowMs: number): { idx: number; e: number; cur: number; prev: number } {
  let idx = Math.floor(nowMs / w);
  let e = nowMs - idx * w;
  if (!stored) return { idx, e, cur: 0, prev: 0 };
  if (stored.idx > idx) {
    idx = stored.idx;
    e = 0;
  }
  if (stored.idx === idx) return { idx, e, cur: stored.cur, prev: stored.prev };
  return { idx, e, cur: 0, prev: stored.idx === idx - 1 ? stored.cur : 0 };
}

/**
 * Evaluates one hit at `nowMs` against the stored state. Arguments must have passed windowArgs.
 * resetMs is exact: the estimate reaches 0 at the end of the window after the last counted hit.
 * The key's TTL should be 2 * windowMs, which outlives that point.
 */
export function slidingWindowStep(stored: WindowState | null, limit: number, w: number, nowMs: number): WindowStep {
  const at = windowAt(stored, w, nowMs);
  const { idx, e, prev } = at;
  let cur = at.cur;
  const before = cur + ceilDiv(prev * (w - e), w);
  if (before + 1 <= limit) {
    cur += 1;
    const count = before + 1;
    const remaining = limit - count;
    const retryAfterMs = remaining === 0 ? msUntilRoom(cur, prev, limit, w, e) : 0;
    return {
      result: { allowed: true, count, remaining, retryAfterMs, resetMs: 2 * w - e },
      write: { idx, cur, prev },
    };
  }
  return {
    result: {
      allowed: false,
      count: before,
      remaining: 0,
      retryAfterMs: msUntilRoom(cur, prev, limit, w, e),
      resetMs: cur > 0 ? 2 * w - e : w - e,
    },
    write: null,
  };
}

function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** Smallest wait in [1, 2w] after which one more hit fits, if no other hit arrives meanwhile. */
function msUntilRoom(cur: number, prev: number, limit: number, w: number, e: number): number {
  // Later in this window: needs prev * (w - e') <= (limit - cur - 1) * w.
  const r = limit - cur - 1;
  if (r >= 0) {
    const m = prev > 0 ? Math.floor((r * w) / prev) : w;
    if (m >= 1) return Math.max(1, w - m - e);
  }
  // In the next window `cur` becomes the previous count: needs cur * (w - e') <= (limit - 1) * w.
  if (cur <= limit - 1) return w - e;
  const m2 = Math.floor(((limit - 1) * w) / cur);
  if (m2 >= 1) return w - e + (w - m2);
  return 2 * w - e;
}

/**
 * Redis twin of slidingWindowStep (keep the two in lockstep). KEYS[1]: a hash with fields i, c, p.
 * ARGV: limit, windowMs, nowMs. Returns {allowed 0|1, count, remaining, retryAfterMs, resetMs}.
 */
/**
 * Lua shared by both scripts (the twin of ceilDiv and the retry arithmetic above): needs `limit`, `w`, `e` and
 * `prev` in scope.
 */
const WINDOW_ROOM_LUA = `local function ceildiv(a, b)
  return math.floor((a + b - 1) / b)
end
local function until_room(c)
  local r = limit - c - 1
  if r >= 0 then
    local m = w
    if prev > 0 then m = math.floor((r * w) / prev) end
    if m >= 1 then return math.max(1, w - m - e) end
  end
  if c <= limit - 1 then return w - e end
  local m2 = math.floor(((limit - 1) * w) / c)
  if m2 >= 1 then return w - e + (w - m2) end
  return 2 * w - e
end
`;

export const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local idx = math.floor(now / w)
local e = now - idx * w
local cur, prev = 0, 0
local s = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
if s[1] then
  local sidx = tonumber(s[1])
  if sidx > idx then
    idx = sidx
    e = 0
  end
  if sidx == idx then
    cur = tonumber(s[2])
    prev = tonumber(s[3])
  elseif sidx == idx - 1 then
    prev = tonumber(s[2])
  end
end
${WINDOW_ROOM_LUA}local before = cur + ceildiv(prev * (w - e), w)
if before + 1 <= limit then
  cur = cur + 1
  local count = before + 1
  local remaining = limit - count
  local retry = 0
  if remaining == 0 then retry = until_room(cur) end
  redis.call('HSET', KEYS[1], 'i', string.format('%.0f', idx), 'c', cur, 'p', prev)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
  return {1, count, remaining, retry, 2 * w - e}
end
local reset = w - e
if cur > 0 then reset = 2 * w - e end
return {0, before, 0, until_room(cur), reset}
`;


/**
 * Local-admission twin of slidingWindowStep (and of LEASE_LUA): with `hit` 1 it evaluates one hit exactly
 * like slidingWindowStep and, when admitted, also reserves up to `want` more hits of the room left; with
 * `hit` 0 it only reserves. Reserved hits are counted like admitted ones, so every guarantee of the
 * window holds for admitted + reserved hits together: an instance admitting from its reservation can
 * never push a key past its limit. `count`/`remaining` include the reservation. First, `giveBack`
 * unused reserved hits of window `giveIdx` are uncounted (from the current or the previous window;
 * never below 0), so a lease that was not used costs nothing.
 */
export function leaseStep(
  stored: WindowState | null, limit: number, w: number, nowMs: number, hit: 0 | 1, want: number, giveBack = 0, giveIdx = 0,
): { result: LeaseResult; write: WindowState | null } {
  let gave = false;
  if (stored && giveBack > 0) {
    if (stored.idx === giveIdx) {
      stored = { ...stored, cur: Math.max(0, stored.cur - giveBack) };
      gave = true;
    } else if (stored.idx === giveIdx + 1) {
      stored = { ...stored, prev: Math.max(0, stored.prev - giveBack) };
      gave = true;
    }
  }
  const at = windowAt(stored, w, nowMs);
  const { idx, e, prev } = at;
  let cur = at.cur;
  const before = cur + ceilDiv(prev * (w - e), w);
  if (hit === 1 && before + 1 > limit) {
    return {
      result: { allowed: false, count: before, remaining: 0, retryAfterMs: msUntilRoom(cur, prev, limit, w, e), resetMs: cur > 0 ? 2 * w - e : w - e, granted: 0, idx },
      write: gave ? { idx, cur, prev } : null,
    };
  }
  const granted = Math.max(0, Math.min(want, limit - before - hit));
  cur += hit + granted;
  const count = before + hit + granted;
  const remaining = Math.max(0, limit - count);
  return {
    result: {
      allowed: true, count, remaining, retryAfterMs: remaining === 0 ? msUntilRoom(cur, prev, limit, w, e) : 0,
      resetMs: cur > 0 ? 2 * w - e : w - e, granted, idx,
    },
    write: hit + granted > 0 || gave ? { idx, cur, prev } : null,
  };
}

/**
 * Redis twin of leaseStep (keep the two in lockstep). KEYS[1]: the same hash as SLIDING_WINDOW_LUA.
 * ARGV: limit, windowMs, nowMs, hit (0|1), want, giveBack, giveIdx.
 * Returns {allowed, count, remaining, retryAfterMs, resetMs, granted, idx}.
 */
export const LEASE_LUA = `
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local hit = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
local give = tonumber(ARGV[6])
local gidx = tonumber(ARGV[7])
local idx = math.floor(now / w)
local e = now - idx * w
local cur, prev = 0, 0
local gave = false
local s = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
if s[1] then
  local sidx = tonumber(s[1])
  local sc = tonumber(s[2])
  local sp = tonumber(s[3])
  if give > 0 then
    if sidx == gidx then
      sc = math.max(0, sc - give)
      gave = true
    elseif sidx == gidx + 1 then
      sp = math.max(0, sp - give)
      gave = true
    end
  end
  if sidx > idx then
    idx = sidx
    e = 0
  end
  if sidx == idx then
    cur = sc
    prev = sp
  elseif sidx == idx - 1 then
    prev = sc
  end
end
${WINDOW_ROOM_LUA}local sidx = string.format('%.0f', idx)
local function store()
  redis.call('HSET', KEYS[1], 'i', sidx, 'c', cur, 'p', prev)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
end
local before = cur + ceildiv(prev * (w - e), w)
if hit == 1 and before + 1 > limit then
  if gave then store() end
  local reset = w - e
  if cur > 0 then reset = 2 * w - e end
  return {0, before, 0, until_room(cur), reset, 0, sidx}
end
local granted = math.max(0, math.min(want, limit - before - hit))
cur = cur + hit + granted
local count = before + hit + granted
local remaining = math.max(0, limit - count)
local retry = 0
if remaining == 0 then retry = until_room(cur) end
if hit + granted > 0 or gave then store() end
local reset = w - e
if cur > 0 then reset = 2 * w - e end
return {1, count, remaining, retry, reset, granted, sidx}
`;
