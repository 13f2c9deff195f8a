import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { AuthplaneError } from '../errors.js';

export interface JwksCacheOptions {
  url: string;
  fetch: typeof fetch;
  /** Keep a fetched key set this long before fetching it again (default 10 minutes). */
  maxAgeMs?: number;
  /**
   * An unknown `kid` fetches the set again, but at most once per this interval (default 1 s): a token
   * signed after a rotation waits for the next fetch instead of failing, and a flood of made-up kids
   * costs the server one fetch per interval. Measured in real time.
   */
  minRefetchMs?: number;
}

/**
 * A remote JWKS kept in memory. Concurrent callers share one fetch. Unlike jose's remote set (30 s
 * cool-down), an unknown kid right after a fetch is not refused: it waits out the short interval and
 * refetches, so a server key rotation causes no outage.
 */
export function createJwksCache(o: JwksCacheOptions) {
  const maxAgeMs = o.maxAgeMs ?? 600_000;
  const minRefetchMs = o.minRefetchMs ?? 1_000;
  let local: ReturnType<typeof createLocalJWKSet> | null = null;
  let kids = new Set<string>();
  let fetchedAt = -Infinity;
  let loading: Promise<void> | null = null;

  function load(): Promise<void> {
    loading ??= (async () => {
      let jwks: JSONWebKeySet;
      try {
        const res = await o.fetch(o.url, { headers: { accept: 'application/json' } });
        if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
        jwks = (await res.json()) as JSONWebKeySet;
        if (!jwks || !Array.isArray(jwks.keys)) throw new Error('JWKS without keys');
      } catch (cause) {
        throw new AuthplaneError(503, { error: 'unavailable', message: 'The signing keys could not be fetched' }, { cause });
      }
      local = createLocalJWKSet(jwks);
      kids = new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
      fetchedAt = Date.now();
    })().finally(() => { loading = null; });
    return loading;
  }

  /** The key for a token header (jose's key-resolver signature). */
  async function getKey(header: JWSHeaderParameters, token: FlattenedJWSInput) {
    if (!local || Date.now() - fetchedAt > maxAgeMs) await load();
    if (typeof header.kid === 'string' && !kids.has(header.kid)) {
      const wait = fetchedAt + minRefetchMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!kids.has(header.kid)) await load();
    }
    return local!(header, token);
  }

  return { getKey, reload: load };
}
