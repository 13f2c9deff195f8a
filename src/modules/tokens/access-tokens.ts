import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { SigningKeys } from './signing-keys.js';

/** Documented leeway for exp/nbf/iat checks (SECURITY TOK-05: at most 60 s). */
export const CLOCK_TOLERANCE_SECONDS = 30;
export const ACCESS_TOKEN_TYP = 'at+jwt';
const VERIFIED_CACHE_MAX = 20_000;
/** Our kids are 16 base64url characters (EdDSA thumbprint prefix) or `hs-` + 16 hex; anything else is refused unread. */
const KID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

export interface AccessClaims {
  iss: string;
  aud: string;
  sub: string;
  tid: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  amr: string[];
  org?: string;
  roles?: string[];
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

/** The verified-token cache key: the signature's tail (any token string works; equality is checked on a hit). */
const CACHE_KEY_CHARS = 32;
const cacheKeyOf = (token: string) => (token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token);

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The claims we rely on, with their types; anything else makes the token invalid (never a 500 later). */
function wellFormed(p: jose.JWTPayload): p is jose.JWTPayload & AccessClaims {
  const c = p as Record<string, unknown>;
  return typeof c.sub === 'string' && typeof c.tid === 'string' && typeof c.sid === 'string' && typeof c.jti === 'string'
    && typeof c.aud === 'string' && typeof c.iat === 'number' && typeof c.exp === 'number' && isStringArray(c.amr)
    && (c.org === undefined || typeof c.org === 'string') && (c.roles === undefined || isStringArray(c.roles));
}

const invalid = () => new AppError('invalid_token', 'The access token is invalid.');
const expired = () => new AppError('token_expired', 'The access token has expired; refresh it.');

/**
 * Signs and verifies access tokens. Verification pins the algorithm to the configured one (RFC 8725
 * §3.1: no `none`, no HS/EdDSA confusion), takes keys only from our key set by `kid` (never `jwk`, `jku`,
 * `x5u`, `x5c`), refuses unknown `crit` extensions (jose's default), and checks typ, iss, exp/nbf/iat
 * with the leeway above and the claims we rely on. The caller checks `aud` against the tenant and the
 * session/JTI against the store.
 *
 * Signature checks dominate the cost of the bearer path, so a verified token is remembered until its
 * expiry; a hit re-checks the expiry and that the signing key is still known and not retired. The map
 * is keyed by the signature's last characters and a hit must equal the whole token (a tampered token is
 * another string and is verified in full): hashing a whole token string per request costs about as much
 * as the rest of the lookup.
 */
export function createAccessTokens(deps: { keys: SigningKeys; clock: Clock; issuer: string }) {
  const { keys, clock, issuer } = deps;
  const verified = new Map<string, { token: string; claims: AccessClaims; expSec: number; kid: string }>();

  // The entry remembered for exactly this token, if any.
  const entryOf = (token: string) => {
    const hit = verified.get(cacheKeyOf(token));
    return hit !== undefined && hit.token === token ? hit : undefined;
  };

  const remember = (token: string, claims: AccessClaims, kid: string) => {
    if (verified.size >= VERIFIED_CACHE_MAX) {
      // Drop the oldest tenth: insertion order approximates age.
      let n = VERIFIED_CACHE_MAX / 10;
      for (const k of verified.keys()) { verified.delete(k); if (--n <= 0) break; }
    }
    verified.set(cacheKeyOf(token), { token, claims, expSec: claims.exp, kid });
  };

  return {
    async sign(c: Omit<AccessClaims, 'iss' | 'iat' | 'exp' | 'jti'> & { ttlSeconds: number; jti?: string }): Promise<{ token: string; claims: AccessClaims }> {
      const now = Math.floor(clock.nowMs() / 1000);
      const claims: AccessClaims = {
        iss: issuer, aud: c.aud, sub: c.sub, tid: c.tid, sid: c.sid, jti: c.jti ?? randomUUID(),
        iat: now, exp: now + c.ttlSeconds, amr: c.amr,
        ...(c.org ? { org: c.org, roles: c.roles ?? [] } : {}),
      };
      const { kid, key } = keys.signer();
      const token = await new jose.SignJWT({ ...claims })
        .setProtectedHeader({ alg: keys.alg, kid, typ: ACCESS_TOKEN_TYP })
        .sign(key);
      return { token, claims };
    },

    /** The claims of a token verified before and still good (key usable, not expired), else undefined: then call verify. */
    verifiedBefore(token: string): AccessClaims | undefined {
      const hit = entryOf(token);
      if (hit === undefined || !keys.usable(hit.kid)) return undefined;
      return hit.expSec + CLOCK_TOLERANCE_SECONDS <= clock.nowMs() / 1000 ? undefined : hit.claims;
    },

    /** Verified claims, or AppError token_expired / invalid_token. The caller checks aud against the tenant. */
    async verify(token: string): Promise<AccessClaims> {
      const nowMs = clock.nowMs();
      const nowSec = nowMs / 1000;
      const hit = entryOf(token);
      if (hit !== undefined) {
        // The key may have been superseded and retired since (rotation elsewhere reloads our key set).
        if (!keys.usable(hit.kid)) {
          verified.delete(cacheKeyOf(token));
          throw invalid();
        }
        if (hit.expSec + CLOCK_TOLERANCE_SECONDS <= nowSec) {
          verified.delete(cacheKeyOf(token));
          throw expired();
        }
        return hit.claims;
      }
      let payload: jose.JWTPayload;
      let kid = '';
      try {
        const res = await jose.jwtVerify(token, async (header) => {
          // Reached only for the pinned algorithm: jose checks `algorithms` before asking for a key.
          if (typeof header.kid !== 'string' || !KID_SHAPE.test(header.kid)) throw new jose.errors.JWKSNoMatchingKey();
          const k = await keys.lookup(header.kid);
          if (!k || k.alg !== header.alg) throw new jose.errors.JWKSNoMatchingKey();
          kid = k.kid;
          return k.key;
        }, {
          algorithms: [keys.alg],
          issuer,
          typ: ACCESS_TOKEN_TYP,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowMs),
          requiredClaims: ['exp', 'iat', 'sub', 'jti', 'aud'],
        });
        payload = res.payload;
      } catch (err) {
        if (err instanceof jose.errors.JWTExpired) throw expired();
        throw invalid();
      }
      if (!wellFormed(payload)) throw invalid();
      // jose checks a future iat only together with maxTokenAge; check it here explicitly (TOK-05).
      if (payload.iat > nowSec + CLOCK_TOLERANCE_SECONDS) throw invalid();
      const claims: AccessClaims = Object.freeze({
        iss: payload.iss as string, aud: payload.aud, sub: payload.sub, tid: payload.tid, sid: payload.sid, jti: payload.jti,
        iat: payload.iat, exp: payload.exp, amr: Object.freeze([...payload.amr]) as string[],
        ...(payload.org !== undefined ? { org: payload.org, roles: Object.freeze([...(payload.roles ?? [])]) as string[] } : {}),
      });
      remember(token, claims, kid);
      return claims;
    },

    /** Drops every cached verification (key retirement, tests). */
    forget(): void {
      verified.clear();
    },
  };
}
