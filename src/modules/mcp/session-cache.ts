import type { SessionPrincipal } from '../../http/principal.js';
import type { SessionRevocation } from '../sessions/revocations.js';

/** How long a verified access token may be served from memory (the seed's bound; revocation is faster). */
export const SESSION_CACHE_TTL_MS = 60_000;
export const SESSION_CACHE_MAX = 10_000;

/**
 * The per-instance cache of MCP bearers that were verified against the session store, keyed by the
 * token's SHA-256 (hex) so the map never holds a token. An entry is served only while it is at most
 * `ttlMs` old and its token has not expired; revocations drop entries on every instance through
 * pub/sub. `epoch` moves on every drop, so a lookup that raced a revocation is not cached.
 */
export function createSessionCache(o: { ttlMs: number; max: number; now: () => number }) {
  const entries = new Map<string, { principal: SessionPrincipal; at: number }>();
  let epoch = 0;

  return {
    get epoch() { return epoch; },

    /** The cached principal, or undefined when absent, older than the bound, or its token expired. */
    get(hashHex: string): SessionPrincipal | undefined {
      const hit = entries.get(hashHex);
      if (!hit) return undefined;
      const now = o.now();
      const age = now - hit.at;
      // A clock moved backwards is treated like an expired entry: re-check rather than trust it.
      if (age > o.ttlMs || age < 0 || hit.principal.expiresAt <= now) {
        entries.delete(hashHex);
        return undefined;
      }
      return hit.principal;
    },

    /** Caches a verified principal unless a revocation arrived since `seenEpoch` (the lookup may be stale). */
    put(hashHex: string, principal: SessionPrincipal, seenEpoch: number): void {
      if (seenEpoch !== epoch) return;
      if (entries.size >= o.max && !entries.has(hashHex)) {
        // Oldest first (a Map iterates in insertion order): bounded memory whatever the token count.
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.delete(hashHex);
      entries.set(hashHex, { principal, at: o.now() });
    },

    /** Drops the entries of the ended session or the revoked token; null (an unreadable message) drops all. */
    drop(r: SessionRevocation | null): void {
      epoch++;
      if (!r) {
        entries.clear();
        return;
      }
      for (const [h, e] of entries) {
        const p = e.principal;
        if (p.tenantId !== r.tenantId) continue;
        if ((r.sessionId && p.sessionId === r.sessionId) || (r.jti && p.jti === r.jti)) entries.delete(h);
      }
    },

    /** Forgets one token (its session was found ended). */
    forget(hashHex: string): void {
      entries.delete(hashHex);
    },

    clear(): void {
      epoch++;
      entries.clear();
    },

    get size() { return entries.size; },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;
