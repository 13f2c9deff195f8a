import { AuthplaneError } from '../errors.js';
import { send, type Op, type Success, type Transport } from '../http.js';

export type ApiKeyValidation = Success<Op<'post', '/auth/api-key/validate'>>;

/** The server's own bound on how long a revoked key may still validate anywhere (DESIGN §1). */
export const MAX_API_KEY_CACHE_SECONDS = 5;
const MAX_ENTRIES = 10_000;

export interface ApiKeyValidatorOptions {
  transport: Transport;
  tenant?: string;
  /** Also require this tenant id. */
  tenantId?: string;
  /** Positive answers are reused this long; clamped to ≤ 5 s (default 5). Refusals are never cached. */
  cacheSeconds?: number;
  now?: () => number;
}

const digest = async (key: string): Promise<string> => {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
};

/**
 * `validate(key)` → the server's answer for a `ck_` key (POST /auth/api-key/validate). A valid answer is
 * cached under the key's SHA-256 (never the key itself) for at most 5 s, so a revoked key stops working
 * here within 5 s, like on the server's own instances; concurrent checks of one key share one request.
 */
export function createApiKeyValidator(o: ApiKeyValidatorOptions) {
  const ttlMs = Math.max(0, Math.min(o.cacheSeconds ?? MAX_API_KEY_CACHE_SECONDS, MAX_API_KEY_CACHE_SECONDS)) * 1000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, { until: number; value: ApiKeyValidation }>();
  const inflight = new Map<string, Promise<ApiKeyValidation>>();

  async function ask(key: string): Promise<ApiKeyValidation> {
    try {
      return await send(o.transport, 'post', '/auth/api-key/validate', { body: { apiKey: key }, headers: o.tenant ? { 'x-tenant-id': o.tenant } : {} });
    } catch (e) {
      if (e instanceof AuthplaneError && (e.status === 401 || e.status === 404)) return { valid: false } as ApiKeyValidation;
      throw e;
    }
  }

  async function validate(key: string): Promise<ApiKeyValidation> {
    if (typeof key !== 'string' || !key.startsWith('ck_') || key.length > 512) return { valid: false } as ApiKeyValidation;
    const id = await digest(key);
    const hit = cache.get(id);
    if (hit && hit.until > now()) return hit.value;
    cache.delete(id);
    let p = inflight.get(id);
    if (!p) {
      p = ask(key).finally(() => inflight.delete(id));
      inflight.set(id, p);
    }
    let value = await p;
    if (value.valid && o.tenantId && value.tenantId !== o.tenantId) value = { valid: false } as ApiKeyValidation;
    if (value.valid && ttlMs > 0) {
      const expires = value.expiresAt ? Date.parse(value.expiresAt) : Infinity;
      if (cache.size >= MAX_ENTRIES) {
        const t = now();
        for (const [k, v] of cache) if (v.until <= t) cache.delete(k);
        if (cache.size >= MAX_ENTRIES) cache.clear();
      }
      cache.set(id, { until: Math.min(now() + ttlMs, expires), value });
    }
    return value;
  }

  return { validate };
}
