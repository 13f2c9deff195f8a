import type { Logger } from 'pino';
import type { Kv, Unsubscribe } from '../../kv/kv.js';
import type { SessionCheck, SessionStore } from './session-store.js';
import type { SessionCheckCache } from './check-cache.js';

/** A session ended or changed (`sessionId`: deleted, stepped up) or one access token revoked (`jti`), in a tenant. */
export interface SessionRevocation {
  tenantId: string;
  sessionId?: string;
  jti?: string;
}

const CHANNEL = 'sessions:revoked';

/** Whether a revocation names this (tenant, session, token): what every cache of checked tokens drops. */
export function revocationMatches(r: SessionRevocation, e: { tenantId: string; sessionId: string; jti: string }): boolean {
  return e.tenantId === r.tenantId && Boolean((r.sessionId && e.sessionId === r.sessionId) || (r.jti && e.jti === r.jti));
}

/** Reads a message; null when it is not one we understand (the receiver then drops everything). */
function parse(message: string): SessionRevocation | null {
  try {
    const m = JSON.parse(message) as Record<string, unknown>;
    if (typeof m.tenantId !== 'string') return null;
    const out: SessionRevocation = { tenantId: m.tenantId };
    if (typeof m.sessionId === 'string') out.sessionId = m.sessionId;
    if (typeof m.jti === 'string') out.jti = m.jti;
    return out.sessionId || out.jti ? out : null;
  } catch {
    return null;
  }
}

export type SessionRevocations = ReturnType<typeof createSessionRevocations>;

/**
 * Announces ended (or stepped-up) sessions and revoked access tokens to every instance (the store's
 * pub/sub), so that in-process caches of checked tokens (the bearer check cache, the MCP bearer cache)
 * drop them at once rather than at the end of their staleness bound. It wraps the session store, so every path that ends a session — logout,
 * DELETE /sessions[/id], refresh reuse, password reset, disabling a user — is covered without the
 * sessions service knowing about it.
 */
export function createSessionRevocations(deps: { kv: Kv; log: Logger }) {
  const { kv, log } = deps;
  const local = new Set<(r: SessionRevocation | null) => void>();

  /**
   * This instance's listeners run synchronously (before the revoking request answers); other instances
   * hear it through pub/sub. A failed publish is logged, not thrown: the revocation itself is written, and
   * the other instances' entries expire within their bound anyway.
   */
  async function announce(r: SessionRevocation): Promise<void> {
    for (const l of local) {
      try { l(r); } catch (err) { log.warn({ err }, 'session revocation listener failed'); }
    }
    await kv.publish(CHANNEL, JSON.stringify(r)).catch((err: unknown) => {
      log.warn({ err }, 'session revocation could not be published; other instances catch up within their cache bound');
    });
  }

  return {
    announce,

    /**
     * The subscription generation of the channel these announcements travel on (Kv.subscriptionGeneration):
     * what every cache subscribed to them passes as its `generation`.
     */
    generation: (): number => kv.subscriptionGeneration(),

    /**
     * The same store, announcing after each `delete`, `deleteAllOfUser`, `revokeJti` and `setStepUp`. Announced even when
     * the write failed half-way (`finally`): dropping a cache entry is always safe, keeping a stale one
     * is not. With `checkCache`, `check` is answered from it when the entry is young and the caller did
     * not ask for a `fresh` read, and `checkCached` gives that answer without a promise; the cache must be
     * subscribed to these announcements (`subscribe(cache.drop)`) and built with this object's `generation`, so
     * it serves nothing while the subscriber is down and nothing read before it came back.
     */
    wrap(store: SessionStore, o: { checkCache?: SessionCheckCache } = {}): SessionStore {
      const cache = o.checkCache;
      // The cache itself refuses to answer while announcements cannot reach this instance (its generation).
      const checkCached = (tenantId: string, sid: string, jti: string): SessionCheck | undefined =>
        cache ? cache.get(tenantId, sid, jti) : undefined;
      return {
        ...store,
        ...(cache ? {
          checkCached,
          async check(tenantId: string, userId: string, sid: string, jti: string, co?: { fresh?: boolean }): Promise<SessionCheck> {
            const hit = co?.fresh ? undefined : checkCached(tenantId, sid, jti);
            // A cached check is the session's own: it is accepted only when its session belongs to `userId`.
            if (hit && hit.session?.userId === userId) return hit;
            const seen = cache.epoch;
            const fresh = await store.check(tenantId, userId, sid, jti);
            // An ended session or revoked token is not remembered: it is refused from the store each time.
            if (fresh.session && !fresh.jtiRevoked) cache.put(tenantId, sid, jti, fresh, seen);
            return fresh;
          },
        } : {}),
        async setStepUp(tenantId, userId, sid, atMs, ttlMs) {
          try {
            await store.setStepUp(tenantId, userId, sid, atMs, ttlMs);
          } finally {
            await announce({ tenantId, sessionId: sid });
          }
        },
        async delete(tenantId, userId, sid) {
          try {
            await store.delete(tenantId, userId, sid);
          } finally {
            await announce({ tenantId, sessionId: sid });
          }
        },
        async deleteAllOfUser(tenantId, userId, except) {
          const ended = await store.deleteAllOfUser(tenantId, userId, except);
          await Promise.all(ended.map((sessionId) => announce({ tenantId, sessionId })));
          return ended;
        },
        async revokeJti(tenantId, userId, jti, ttlMs) {
          try {
            await store.revokeJti(tenantId, userId, jti, ttlMs);
          } finally {
            await announce({ tenantId, jti });
          }
        },
      };
    },

    /** Calls `handler` for every revocation on any instance; `null` = unreadable message (drop everything). */
    async subscribe(handler: (r: SessionRevocation | null) => void): Promise<Unsubscribe> {
      local.add(handler);
      let off: Unsubscribe;
      try {
        off = await kv.subscribe(CHANNEL, (message) => handler(parse(message)));
      } catch (err) {
        local.delete(handler);
        throw err;
      }
      return async () => {
        local.delete(handler);
        await off();
      };
    },
  };
}
