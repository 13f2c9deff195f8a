import type { ApiKeyPrincipal } from '../../http/principal.js';

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
 * store's pub/sub. `epoch` moves on every drop, so a lookup that raced a revocation is not cached.
 */
export function createKeyCache(o: { ttlMs: number; max: number; now: () => number }) {
  const entries = new Map<string, { value: ValidatedKey; at: number }>();
  let epoch = 0;

  return {
    get epoch() { return epoch; },

    /** The cached key, or undefined when absent or older than the bound. */
    get(hashHex: string): ValidatedKey | undefined {
      const hit = entries.get(hashHex);
      if (!hit) return undefined;
      const age = o.now() - hit.at;
      // A clock moved backwards is treated like an expired entry: re-check rather than trust it.
      if (age > o.ttlMs || age < 0) {
        entries.delete(hashHex);
        return undefined;
      }
      return hit.value;
    },

    /** Caches a validated key unless an invalidation arrived since `seenEpoch` (the lookup may be stale). */
    put(hashHex: string, value: ValidatedKey, seenEpoch: number): void {
      if (seenEpoch !== epoch) return;
      if (entries.size >= o.max) {
        // Oldest first (a Map iterates in insertion order): a bounded memory cost whatever the key count.
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(hashHex, { value, at: o.now() });
    },

    /** Drops the entries an invalidation names. */
    drop(inv: Invalidation): void {
      epoch++;
      for (const [h, e] of entries) {
        const p = e.value.principal;
        if ((inv.keyId && p.keyId === inv.keyId) || (inv.userId && p.userId === inv.userId)) entries.delete(h);
      }
    },

    clear(): void {
      epoch++;
      entries.clear();
    },

    get size() { return entries.size; },
  };
}

export type KeyCache = ReturnType<typeof createKeyCache>;
