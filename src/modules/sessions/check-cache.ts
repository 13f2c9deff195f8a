import { createEpochCache } from '../../lib/epoch-cache.js';
import { revocationMatches, type SessionRevocation } from './revocations.js';
import type { SessionCheck } from './session-store.js';

/**
 * How long a session check (the session, its access token's revocation marker, the last step-up) may
 * be answered from memory. Every change to those — logout, session deletion, refresh reuse, token
 * revocation, step-up — drops the entry at once on every instance through pub/sub; the bound only
 * matters if a pub/sub message is lost.
 */
export const SESSION_CHECK_TTL_MS = 5_000;
export const SESSION_CHECK_MAX = 50_000;

interface Entry { check: SessionCheck; tenantId: string; sessionId: string; jti: string }

/**
 * The per-instance cache of session checks, for (tenant, session, token id): a bearer request whose
 * token was checked in the last few seconds costs no store round trip (see src/lib/epoch-cache.ts for
 * the epoch rule). Keyed by the token id alone and confirmed on the entry: the id string comes from the
 * cached claims, so its hash is computed once, where a joined key would be a new string to hash per request.
 */
export function createSessionCheckCache(o: { ttlMs: number; max: number; now: () => number; generation: () => number }) {
  const cache = createEpochCache<Entry>(o);

  return {
    get epoch() { return cache.epoch; },

    get(tenantId: string, sessionId: string, jti: string): SessionCheck | undefined {
      const e = cache.get(jti);
      return e !== undefined && e.tenantId === tenantId && e.sessionId === sessionId ? e.check : undefined;
    },

    /** Remembers a check unless a drop happened since `seenEpoch` (the read may predate it). */
    put(tenantId: string, sessionId: string, jti: string, check: SessionCheck, seenEpoch: number): void {
      cache.put(jti, { check, tenantId, sessionId, jti }, seenEpoch);
    },

    /** Drops the entries of a changed session or a revoked token; null (an unreadable message) drops all. */
    drop(r: SessionRevocation | null): void {
      if (!r) return cache.clear();
      cache.dropWhere((e) => revocationMatches(r, e));
    },

    get size() { return cache.size; },
  };
}

export type SessionCheckCache = ReturnType<typeof createSessionCheckCache>;
