import type { SessionRevocation } from './revocations.js';
import type { SessionCheck } from './session-store.js';

/**
 * How long a session check (the session, its access token's revocation marker, the last step-up) may
 * be answered from memory. Every change to those — logout, session deletion, refresh reuse, token
 * revocation, step-up — drops the entry at once on every instance through pub/sub; the bound only
 * matters if a pub/sub message is lost.
 */
export const SESSION_CHECK_TTL_MS = 5_000;
export const SESSION_CHECK_MAX = 50_000;

interface Entry { check: SessionCheck; at: number; tenantId: string; sessionId: string; jti: string }

/**
 * The per-instance cache of session checks, keyed by (tenant, session, token id): a bearer request
 * whose token was checked in the last few seconds costs no store round trip. `epoch` moves on every
 * drop, so a read that raced a revocation is not cached.
 */
export function createSessionCheckCache(o: { ttlMs: number; max: number; now: () => number }) {
  const entries = new Map<string, Entry>();
  let epoch = 0;
  const keyOf = (tenantId: string, sessionId: string, jti: string) => `${tenantId}\u0000${sessionId}\u0000${jti}`;

  return {
    get epoch() { return epoch; },

    get(tenantId: string, sessionId: string, jti: string): SessionCheck | undefined {
      const key = keyOf(tenantId, sessionId, jti);
      const hit = entries.get(key);
      if (!hit) return undefined;
      const age = o.now() - hit.at;
      // A clock moved backwards is treated like an old entry: check again rather than trust it.
      if (age > o.ttlMs || age < 0) {
        entries.delete(key);
        return undefined;
      }
      return hit.check;
    },

    /** Remembers a check unless a drop happened since `seenEpoch` (the read may predate it). */
    put(tenantId: string, sessionId: string, jti: string, check: SessionCheck, seenEpoch: number): void {
      if (seenEpoch !== epoch) return;
      const key = keyOf(tenantId, sessionId, jti);
      if (entries.size >= o.max && !entries.has(key)) {
        // Oldest first (a Map iterates in insertion order): bounded memory whatever the token count.
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.delete(key);
      entries.set(key, { check, at: o.now(), tenantId, sessionId, jti });
    },

    /** Drops the entries of a changed session or a revoked token; null (an unreadable message) drops all. */
    drop(r: SessionRevocation | null): void {
      epoch++;
      if (!r) {
        entries.clear();
        return;
      }
      for (const [key, e] of entries) {
        if (e.tenantId !== r.tenantId) continue;
        if ((r.sessionId && e.sessionId === r.sessionId) || (r.jti && e.jti === r.jti)) entries.delete(key);
      }
    },

    get size() { return entries.size; },
  };
}

export type SessionCheckCache = ReturnType<typeof createSessionCheckCache>;
