import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import type { Kv, Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { sha256Hex } from '../../lib/crypto.js';
import type { ApiKeyPrincipal } from '../../http/principal.js';
import { apiKeyValidations } from '../metrics/registry.js';
import { createKeyCache, type Invalidation, type ValidatedKey } from './cache.js';
import { isApiKeyShaped } from './keys.js';
import { apiKeyStore } from './store.js';

/** How long a validated key may be served from memory; revocation through pub/sub is faster. */
export const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_MAX = 10_000;
/** `lastUsedAt` is written at most this often per key. */
export const TOUCH_INTERVAL_MS = 60_000;
const TOUCH_MEMORY_MAX = 50_000;
const keyValid = apiKeyValidations.labels('valid');
const keyInvalid = apiKeyValidations.labels('invalid');
const CHANNEL = 'api-keys:invalidate';

export type ApiKeyVerifier = ReturnType<typeof createApiKeyVerifier>;

/**
 * Validates presented `ck_` keys: one SHA-256, then the in-process cache or one database round trip
 * (`ap_api_key_by_hash`). Refuses unknown, revoked and expired keys and keys of disabled users alike.
 */
export function createApiKeyVerifier(deps: { sql: Sql; kv: Kv; clock: Clock; log: Logger }) {
  const { sql, kv, clock, log } = deps;
  // Nothing is served while the invalidation channel may be missing messages, nor anything read before it came back.
  const cache = createKeyCache({ ttlMs: KEY_CACHE_TTL_MS, max: KEY_CACHE_MAX, now: () => clock.nowMs(), generation: () => kv.subscriptionGeneration() });
  const touchedAt = new Map<string, number>();
  const pending = new Set<Promise<void>>();

  /** Records the use in the background: never awaited by the request, at most once a minute per key. */
  function touch(p: ApiKeyPrincipal): void {
    const now = clock.nowMs();
    const last = touchedAt.get(p.keyId);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS && now >= last) return;
    if (touchedAt.size >= TOUCH_MEMORY_MAX) touchedAt.clear();
    touchedAt.set(p.keyId, now);
    const job: Promise<void> = sql.tx(p.tenantId, (tx) => apiKeyStore.touch(tx, p.keyId, new Date(now)))
      .catch((err: unknown) => { log.warn({ err }, 'api key lastUsedAt update failed'); })
      .finally(() => { pending.delete(job); });
    pending.add(job);
  }

  /** The cached validation of a key's digest: the key, null when it has expired since, undefined when not cached. */
  function cachedLive(hex: string): ValidatedKey | null | undefined {
    const v = cache.get(hex);
    if (v === undefined) return undefined;
    return v.expiresAt !== null && v.expiresAt.getTime() <= clock.nowMs() ? null : v;
  }

  async function lookup(key: string): Promise<ValidatedKey | null> {
    if (!isApiKeyShaped(key)) return null;
    const hex = sha256Hex(key);
    const cached = cachedLive(hex);
    if (cached !== undefined) return cached;
    const now = clock.now();
    const seen = cache.epoch;
    const row = await sql.tx(null, (tx) => apiKeyStore.findByHash(tx, Buffer.from(hex, 'hex')));
    if (!row || row.revoked || row.userDisabled) return null;
    const v: ValidatedKey = {
      principal: { kind: 'apiKey', tenantId: row.tenantId, userId: row.userId, keyId: row.id, scopes: row.scopes, orgId: row.orgId },
      expiresAt: row.expiresAt,
    };
    if (v.expiresAt && v.expiresAt <= now) return null;
    cache.put(hex, v, seen);
    return v;
  }

  return {
    /** Subscribes to cross-instance invalidations; call once at start. */
    async start(): Promise<Unsubscribe> {
      return kv.subscribe(CHANNEL, (message) => {
        try {
          const inv = JSON.parse(message) as Invalidation;
          cache.drop({ keyId: typeof inv.keyId === 'string' ? inv.keyId : undefined, userId: typeof inv.userId === 'string' ? inv.userId : undefined });
        } catch {
          // An unreadable message still means "something was revoked": drop everything.
          cache.clear();
        }
      });
    },

    /** The principal of a live key (the guard's authenticator), or null. */
    async authenticate(key: string): Promise<ApiKeyPrincipal | null> {
      const v = await lookup(key);
      if (!v) {
        keyInvalid.inc();
        return null;
      }
      keyValid.inc();
      touch(v.principal);
      return v.principal;
    },

    /**
     * `authenticate`'s answer when the key is cached and live (no I/O, no promise); otherwise undefined,
     * and the caller runs `authenticate`.
     */
    authenticateCached(key: string): ApiKeyPrincipal | undefined {
      if (!isApiKeyShaped(key)) return undefined;
      const v = cachedLive(sha256Hex(key));
      if (!v) return undefined;
      keyValid.inc();
      touch(v.principal);
      return v.principal;
    },

    /** The live key with its expiry (for POST /api-key/validate), or null; the caller records the use. */
    check: lookup,

    /** `check`'s answer when the key's digest is cached (no I/O, no promise); otherwise undefined. */
    checkCached(key: string): ValidatedKey | null | undefined {
      return isApiKeyShaped(key) ? cachedLive(sha256Hex(key)) : undefined;
    },

    /** Records a use of the key in the background (see `touch`). */
    touch,

    /**
     * Makes revoked keys stop working: dropped here at once, and on every other instance through
     * pub/sub. A failed publish is logged, not thrown: the revocation is committed, and other
     * instances' entries expire within KEY_CACHE_TTL_MS anyway.
     */
    async invalidate(inv: Invalidation): Promise<void> {
      cache.drop(inv);
      await kv.publish(CHANNEL, JSON.stringify(inv)).catch((err: unknown) => {
        log.warn({ err }, 'api key invalidation could not be published; other instances catch up within the cache bound');
      });
    },

    /** Resolves when every background `lastUsedAt` write has finished. */
    async settled(): Promise<void> {
      while (pending.size) await Promise.all([...pending]);
    },
  };
}
