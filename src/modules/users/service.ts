import type { Sql, Tx } from '../../db/sql.js';
import type { Kv, Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { createInvalidationEpoch } from '../../lib/epoch-cache.js';
import { apiKeyStore } from '../api-keys/store.js';
import { onUserWrite, publicUser, userStore, type User } from './store.js';
import type { Events } from '../webhooks/events.js';

/** A cached profile is served for at most this long (the staleness bound when an invalidation is lost). */
export const PROFILE_CACHE_TTL_MS = 30_000;
/**
 * After a write is announced, the user is neither served from nor written to the cache for this long.
 * The announcement comes from inside the writer's transaction, before its commit: without this window a
 * reader could cache the pre-commit row right after the drop.
 */
const DIRTY_WINDOW_MS = 2_000;
const CACHE_MAX = 50_000;
const CHANNEL = 'users:changed';

export type UserService = ReturnType<typeof createUserService>;

/**
 * User profiles for the bearer path. `GET /auth/user` must not cost a Postgres query per request
 * (PERFORMANCE: bearer ≥ 0.55 of a bare route, and one Postgres SELECT alone caps a route at ~0.23),
 * so profiles are cached in-process for at most 30 s, dropped on this instance by every update made
 * through `userStore` (the store announces it) and on the other instances through the store's pub/sub.
 * Nothing is served while that subscription is down, nor anything read before it came back (createInvalidationEpoch).
 * Revocation never depends on this cache: a disabled user's sessions are ended in the key–value store.
 */
export function createUserService(deps: { sql: Sql; kv: Kv; clock: Clock; sessions: { endAllIn(tx: Tx, tenantId: string, userId: string): Promise<number> }; events?: Events }) {
  const { sql, kv, clock, sessions, events } = deps;
  const cache = new Map<string, { user: User; at: number }>();
  const dirtyUntil = new Map<string, number>();
  const epochs = new Map<string, number>();
  // Per-user epochs above catch writes during a read; this one catches subscriber outages (messages lost).
  const subscription = createInvalidationEpoch({ generation: () => kv.subscriptionGeneration(), reset: () => cache.clear() });

  /** A fresh cached profile (null when it is another tenant's user), or undefined when there is none to serve. */
  function cachedProfile(tenantId: string, userId: string, now: number): User | null | undefined {
    if ((dirtyUntil.get(userId) ?? 0) > now || !subscription.live()) return undefined;
    const hit = cache.get(userId);
    if (!hit || now - hit.at > PROFILE_CACHE_TTL_MS) return undefined;
    return hit.user.tenantId === tenantId ? hit.user : null;
  }

  const drop = (userId: string) => {
    cache.delete(userId);
    const now = Date.now();
    dirtyUntil.set(userId, now + DIRTY_WINDOW_MS);
    epochs.set(userId, (epochs.get(userId) ?? 0) + 1);
    if (dirtyUntil.size > 10_000) {
      for (const [id, until] of dirtyUntil) if (until <= now) { dirtyUntil.delete(id); epochs.delete(id); }
    }
  };

  return {
    /** Listens for this process's writes and other instances' invalidations; call once at start. */
    async start(): Promise<Unsubscribe> {
      const offWrite = onUserWrite((userId) => {
        drop(userId);
        void kv.publish(CHANNEL, userId).catch(() => {});
      });
      const off = await kv.subscribe(CHANNEL, (userId) => drop(userId));
      return async () => { offWrite(); await off(); };
    },

    /**
     * `profile`'s answer when the cache can give it (no I/O, no promise): the user, null for another
     * tenant's id, or undefined when `profile` has to read the database.
     */
    profileCached(tenantId: string, userId: string): User | null | undefined {
      return cachedProfile(tenantId, userId, Date.now());
    },

    /** The user (without secrets) if it exists in this tenant; served from the cache when fresh. */
    async profile(tenantId: string, userId: string): Promise<User | null> {
      const now = Date.now();
      const cached = cachedProfile(tenantId, userId, now);
      if (cached !== undefined) return cached;
      const dirty = (dirtyUntil.get(userId) ?? 0) > now;
      const epoch = epochs.get(userId) ?? 0;
      const seen = subscription.value;
      const row = await sql.tx(tenantId, (tx) => userStore.byId(tx, userId));
      if (!row) return null;
      const user = Object.freeze(publicUser(row));
      // Cache only when no write was announced while we read (it may not have been visible to us).
      if (!dirty && (epochs.get(userId) ?? 0) === epoch && subscription.unchanged(seen)) {
        if (cache.size >= CACHE_MAX) {
          let n = CACHE_MAX / 10;
          for (const k of cache.keys()) { cache.delete(k); if (--n <= 0) break; }
        }
        cache.set(userId, { user, at: Date.now() });
      }
      return user;
    },

    /**
     * Disables (or re-enables) a user; disabling also ends every session of the user at once, on every
     * instance (SECURITY SES-03, TOK-07), and revokes every API key of the user in the same transaction
     * (re-enabling brings none back). Null when the user is not in this tenant.
     */
    async setDisabled(tenantId: string, userId: string, disabled: boolean): Promise<User | null> {
      // One transaction: the flag, every API key revoked for good (a key merely suspended while the flag is
      // set would come back to life on re-enabling; issue 24) and every session ended. If the session store
      // is down, nothing changes (503). The caller drops the keys from every instance's cache
      // (apiKeys.invalidateUser) once this has committed.
      const row = await sql.tx(tenantId, async (tx) => {
        const now = clock.now();
        const updated = await userStore.setDisabled(tx, userId, disabled, now);
        if (updated && disabled) {
          await apiKeyStore.revokeAllOf(tx, userId, now);
          await sessions.endAllIn(tx, tenantId, userId);
        }
        if (updated) await events?.emit(tx, tenantId, disabled ? 'user.disabled' : 'user.enabled', { userId });
        return updated;
      });
      if (!row) return null;
      return publicUser(row);
    },
  };
}
