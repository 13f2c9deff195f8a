/** Namespace prepended to every key and channel unless the caller picks another. */
export const DEFAULT_PREFIX = 'ap:';

/** Validates a TTL and rounds it up to whole ms (PX takes integers); throws RangeError unless finite and > 0. */
export function ttlArg(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`kv: ttlMs must be > 0, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

/** Validates sliding-window arguments and floors nowMs; throws RangeError on values the arithmetic cannot handle exactly. */
export function windowArgs(limit: number, windowMs: number, nowMs: number): { limit: number; windowMs: number; nowMs: number } {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`kv: limit must be an integer >= 1, got ${limit}`);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(`kv: windowMs must be an integer >= 1, got ${windowMs}`);
  }
  // Every product in the limiter stays below 2 * limit * windowMs; doubles are exact below 2^53.
  if (2 * limit * windowMs > Number.MAX_SAFE_INTEGER) throw new RangeError('kv: limit * windowMs too large');
  if (!Number.isFinite(nowMs) || nowMs < 0 || nowMs > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`kv: nowMs must be a non-negative timestamp, got ${nowMs}`);
  }
  return { limit, windowMs, nowMs: Math.floor(nowMs) };
}
