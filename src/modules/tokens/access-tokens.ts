import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { SigningKeys } from './signing-keys.js';

/** Documented leeway for exp/nbf/iat checks (SECURITY TOK-05: at most 60 s). */
export const CLOCK_TOLERANCE_SECONDS = 30;
export const ACCESS_TOKEN_TYP = 'at+jwt';
const VERIFIED_CACHE_MAX = 20_000;

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

/**
 * Signs and verifies access tokens. Verification pins the algorithm to the configured one, takes keys
 * only from our key set by `kid`, and checks typ, iss, exp/nbf/iat (with the leeway above) and the
 * claims we rely on. Signature checks dominate the cost of the bearer path, so a verified token is
 * remembered (keyed by the token string itself) until its own expiry: a cache hit still re-checks the
 * time, and the session and JTI are checked by the caller on every request.
 */
export function createAccessTokens(deps: { keys: SigningKeys; clock: Clock; issuer: string }) {
  const { keys, clock, issuer } = deps;
  const verified = new Map<string, AccessClaims>();

  const remember = (token: string, claims: AccessClaims) => {
    if (verified.size >= VERIFIED_CACHE_MAX) {
      // Drop the oldest tenth: insertion order approximates age.
      let n = VERIFIED_CACHE_MAX / 10;
      for (const k of verified.keys()) { verified.delete(k); if (--n <= 0) break; }
    }
    verified.set(token, claims);
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

    /** Verified claims, or AppError token_expired / invalid_token. The caller checks aud against the tenant. */
    async verify(token: string): Promise<AccessClaims> {
      const nowSec = clock.nowMs() / 1000;
      const hit = verified.get(token);
      if (hit) {
        if (hit.exp + CLOCK_TOLERANCE_SECONDS <= nowSec) {
          verified.delete(token);
          throw new AppError('token_expired', 'The access token has expired; refresh it.');
        }
        return hit;
      }
      let payload: jose.JWTPayload;
      try {
        const res = await jose.jwtVerify(token, async (header) => {
          if (typeof header.kid !== 'string' || header.kid.length > 64) throw new jose.errors.JWKSNoMatchingKey();
          const k = await keys.lookup(header.kid);
          if (!k || k.alg !== header.alg) throw new jose.errors.JWKSNoMatchingKey();
          return k.key;
        }, {
          algorithms: [keys.alg],
          issuer,
          typ: ACCESS_TOKEN_TYP,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(clock.nowMs()),
          requiredClaims: ['exp', 'iat', 'sub', 'jti', 'aud'],
        });
        payload = res.payload;
      } catch (err) {
        if (err instanceof jose.errors.JWTExpired) throw new AppError('token_expired', 'The access token has expired; refresh it.');
        throw new AppError('invalid_token', 'The access token is invalid.');
      }
      const c = payload as unknown as AccessClaims;
      if (typeof c.tid !== 'string' || typeof c.sid !== 'string' || typeof c.aud !== 'string' || !Array.isArray(c.amr)) {
        throw new AppError('invalid_token', 'The access token is invalid.');
      }
      // jose accepts a future iat within the tolerance only; say so explicitly rather than rely on it.
      if (c.iat > nowSec + CLOCK_TOLERANCE_SECONDS) throw new AppError('invalid_token', 'The access token is invalid.');
      remember(token, c);
      return c;
    },

    /** Drops every cached verification (key retirement, tests). */
    forget(): void {
      verified.clear();
    },
  };
}
