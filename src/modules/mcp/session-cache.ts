import type { SessionPrincipal } from '../../http/principal.js';
import { createEpochCache } from '../../lib/epoch-cache.js';
import { revocationMatches, type SessionRevocation } from '../sessions/revocations.js';

/** How long a verified access token may be served from memory (the seed's bound; revocation is faster). */
export const SESSION_CACHE_TTL_MS = 60_000;
export const SESSION_CACHE_MAX = 10_000;

/**
 * The per-instance cache of MCP bearers that were verified against the session store, keyed by the
 * token's SHA-256 (hex) so the map never holds a token. An entry is served only while it is at most
 * `ttlMs` old and its token has not expired; revocations drop entries on every instance through
 * pub/sub (see src/lib/epoch-cache.ts for the epoch rule).
 */
export function createSessionCache(o: { ttlMs: number; max: number; now: () => number; generation: () => number }) {
  const cache = createEpochCache<SessionPrincipal>({ ...o, stillValid: (p, now) => p.expiresAt > now });
  return {
    get epoch() { return cache.epoch; },
    /** The cached principal, or undefined when absent, older than the bound, or its token expired. */
    get: (hashHex: string) => cache.get(hashHex),
    /** Caches a verified principal unless a revocation arrived since `seenEpoch` (the lookup may be stale). */
    put: (hashHex: string, principal: SessionPrincipal, seenEpoch: number) => cache.put(hashHex, principal, seenEpoch),
    /** Drops the entries of the ended session or the revoked token; null (an unreadable message) drops all. */
    drop(r: SessionRevocation | null): void {
      if (!r) return cache.clear();
      cache.dropWhere((p) => revocationMatches(r, p));
    },
    /** Forgets one token (its session was found ended). */
    forget: (hashHex: string) => cache.forget(hashHex),
    clear: () => cache.clear(),
    get size() { return cache.size; },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;
