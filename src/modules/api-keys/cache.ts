import type { ApiKeyPrincipal } from '../../http/principal.js';
import { createEpochCache } from '../../lib/epoch-cache.js';

/** A key that validated: its principal and its own expiry (checked on every hit). */
export interface ValidatedKey {
  principal: ApiKeyPrincipal;
  expiresAt: Date | null;
}

/** What an invalidation names: one key, or every key of one user. */
export interface Invalidation {
  keyId?: string;
  userId?: string;
}

/**
 * The per-instance cache of validated keys, keyed by the key's SHA-256 (hex). Staleness is bounded
 * twice: an entry lives at most `ttlMs`, and revocations drop entries on every instance through the
 * store's pub/sub (see src/lib/epoch-cache.ts for the epoch rule).
 */
export function createKeyCache(o: { ttlMs: number; max: number; now: () => number; generation: () => number }) {
  const cache = createEpochCache<ValidatedKey>(o);
  return {
    get epoch() { return cache.epoch; },
    get: (hashHex: string) => cache.get(hashHex),
    put: (hashHex: string, value: ValidatedKey, seenEpoch: number) => cache.put(hashHex, value, seenEpoch),
    /** Drops the entries an invalidation names. */
    drop(inv: Invalidation): void {
      cache.dropWhere(({ principal: p }) => Boolean((inv.keyId && p.keyId === inv.keyId) || (inv.userId && p.userId === inv.userId)));
    },
    clear: () => cache.clear(),
    get size() { return cache.size; },
  };
}

export type KeyCache = ReturnType<typeof createKeyCache>;
