import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AuthplaneError } from '../errors.js';
import { createJwksCache } from './jwks.js';

/** The claims of a verified Authplane access token (DESIGN §3). */
export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  /** tenant id */
  tid: string;
  /** session id */
  sid: string;
  jti: string;
  exp: number;
  amr?: string[];
  /** the active org, with the user's roles in it */
  org?: string;
  roles?: string[];
}

export interface VerifyOptions {
  /** The server's origin, for JWKS and revocation checks. */
  baseUrl: string;
  /** Expected `iss` (the server's PUBLIC_URL). */
  issuer: string;
  /** Expected `aud` (the tenant's audience setting; by default its id). */
  audience: string | string[];
  /** Also require this `tid`. */
  tenantId?: string;
  /** Default `${baseUrl}/.well-known/jwks.json`. */
  jwksUrl?: string;
  /**
   * Ask the server whether the session still exists (GET /auth/user) at most once per token per
   * `intervalSeconds`. Without it, a revoked token passes until it expires (≤ its lifetime, 15 min).
   */
  checkRevocation?: { intervalSeconds: number };
  /** Tolerated clock skew for `exp`/`iat`, seconds (default 5). */
  clockToleranceSeconds?: number;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests); default `Date.now`. Used for `exp` and the revocation cache. */
  now?: () => number;
  /** See createJwksCache. */
  jwksMinRefetchMs?: number;
}

const refuse = (code: 'invalid_token' | 'token_expired', message: string, cause?: unknown) =>
  new AuthplaneError(401, { error: code, message }, { cause });

const MAX_REVOCATION_ENTRIES = 10_000;

/** A verifier bound to one server and audience: `verify(token)` → claims, or throws AuthplaneError (401/503). */
export function createAccessTokenVerifier(o: VerifyOptions) {
  const fetchFn = o.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
  const now = o.now ?? Date.now;
  const base = o.baseUrl.replace(/\/$/, '');
  const jwks = createJwksCache({ url: o.jwksUrl ?? `${base}/.well-known/jwks.json`, fetch: fetchFn, minRefetchMs: o.jwksMinRefetchMs });
  // jti → when the server last said the session lives (or that it is gone, which is final).
  const checked = new Map<string, { at: number; alive: boolean; exp: number }>();
  const inflight = new Map<string, Promise<boolean>>();

  async function askServer(token: string): Promise<boolean> {
    let res: Response;
    try {
      res = await fetchFn(`${base}/auth/user`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
      await res.arrayBuffer();
    } catch (cause) {
      throw new AuthplaneError(503, { error: 'unavailable', message: 'Authplane could not be reached to check the session' }, { cause });
    }
    if (res.ok) return true;
    if (res.status === 401) return false;
    // 429/5xx: the answer is unknown; refuse to decide rather than let a revoked token through.
    throw new AuthplaneError(503, { error: 'unavailable', message: `Authplane answered ${res.status} to the session check` });
  }

  async function alive(token: string, claims: AccessTokenClaims): Promise<boolean> {
    const t = now();
    const c = checked.get(claims.jti);
    if (c && (!c.alive || t - c.at < o.checkRevocation!.intervalSeconds * 1000)) return c.alive;
    let p = inflight.get(claims.jti);
    if (!p) {
      p = askServer(token).finally(() => inflight.delete(claims.jti));
      inflight.set(claims.jti, p);
    }
    const ok = await p;
    if (checked.size >= MAX_REVOCATION_ENTRIES) {
      for (const [k, v] of checked) if (v.exp * 1000 <= t || checked.size >= MAX_REVOCATION_ENTRIES) checked.delete(k);
    }
    checked.set(claims.jti, { at: now(), alive: ok, exp: claims.exp });
    return ok;
  }

  async function verify(token: string): Promise<AccessTokenClaims> {
    if (typeof token !== 'string' || token.split('.').length !== 3) throw refuse('invalid_token', 'Not a JWT');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks.getKey, {
        issuer: o.issuer, audience: o.audience, typ: 'at+jwt', algorithms: ['EdDSA'],
        currentDate: new Date(now()), clockTolerance: o.clockToleranceSeconds ?? 5,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      }));
    } catch (e) {
      if (e instanceof AuthplaneError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw refuse('token_expired', 'The access token has expired', e);
      throw refuse('invalid_token', 'The access token is not valid', e);
    }
    const claims = payload as AccessTokenClaims;
    if (typeof claims.tid !== 'string' || typeof claims.sid !== 'string') throw refuse('invalid_token', 'The access token lacks tid or sid');
    if (o.tenantId && claims.tid !== o.tenantId) throw refuse('invalid_token', 'The access token belongs to another tenant');
    if (o.checkRevocation && !(await alive(token, claims))) throw refuse('invalid_token', 'The session has been revoked');
    return claims;
  }

  return { verify, jwks };
}

const shared = new Map<string, ReturnType<typeof createAccessTokenVerifier>>();

/**
 * Verifies an Authplane access token (signature against the cached remote JWKS, `typ`, `iss`, `aud`,
 * `exp`; optionally that its session still exists). Verifiers are kept per option set, so repeated
 * calls share one JWKS cache (its `fetch` and `now` are those of the first call with these options;
 * use createAccessTokenVerifier for full control). Throws AuthplaneError: 401 `invalid_token`/`token_expired`, 503 `unavailable`.
 */
export function verifyAccessToken(token: string, o: VerifyOptions): Promise<AccessTokenClaims> {
  const key = JSON.stringify([o.baseUrl, o.issuer, o.audience, o.tenantId, o.jwksUrl, o.checkRevocation?.intervalSeconds, o.clockToleranceSeconds]);
  let v = shared.get(key);
  if (!v) {
    v = createAccessTokenVerifier(o);
    shared.set(key, v);
  }
  return v.verify(token);
}
