import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import type { SessionService } from '../sessions/service.js';
import type { SigningKeys } from '../tokens/signing-keys.js';
import { CLOCK_TOLERANCE_SECONDS } from '../tokens/access-tokens.js';
import { nonceStore } from './store.js';

/** The JOSE `typ` of handoff tokens: distinct from access tokens (at+jwt), so neither passes for the other (RFC 8725 §3.11). */
export const HANDOFF_TYP = 'xd+jwt';
export const HANDOFF_TTL_SECONDS = 60;
const SWEEP_INTERVAL_MS = 60_000;
const KID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

export interface HandoffClaims {
  iss: string;
  aud: string;
  sub: string;
  tid: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export type CrossDomainService = ReturnType<typeof createCrossDomainService>;

/**
 * Cross-domain handoff: a signed-in user gets a 60-second, single-use JWT for one of the tenant's
 * allowed origins; that origin's backend verifies it once. Signed with the access-token key set but a
 * different `typ`; the JTI is recorded in Postgres on the first successful verify.
 */
export function createCrossDomainService(deps: { sql: Sql; clock: Clock; keys: SigningKeys; sessions: SessionService; audit: AuditService; issuer: string }) {
  const { sql, clock, keys, sessions, audit, issuer } = deps;
  const lastSweep = new Map<string, number>();

  const invalid = (message = 'The handoff token is invalid.') => new AppError('invalid_token', message);

  async function decode(token: string, audience: string): Promise<HandoffClaims> {
    try {
      const { payload } = await jose.jwtVerify(token, async (header) => {
        if (typeof header.kid !== 'string' || !KID_SHAPE.test(header.kid)) throw new jose.errors.JWKSNoMatchingKey();
        const k = await keys.lookup(header.kid);
        if (!k || k.alg !== header.alg) throw new jose.errors.JWKSNoMatchingKey();
        return k.key;
      }, {
        algorithms: [keys.alg],
        typ: HANDOFF_TYP,
        issuer,
        audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(clock.nowMs()),
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'aud', 'tid', 'sid'],
      });
      const c = payload as unknown as HandoffClaims;
      if (typeof c.aud !== 'string' || typeof c.tid !== 'string' || typeof c.sid !== 'string' || typeof c.jti !== 'string' || c.jti.length > 64) throw invalid();
      // A handoff token never lives longer than 60 s, whatever the key could sign.
      if (c.exp - c.iat > HANDOFF_TTL_SECONDS || c.iat > clock.nowMs() / 1000 + CLOCK_TOLERANCE_SECONDS) throw invalid();
      return c;
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof jose.errors.JWTExpired) throw new AppError('token_expired', 'The handoff token has expired; issue a new one.');
      if (err instanceof jose.errors.JWTClaimValidationFailed && err.claim === 'aud') throw invalid('The handoff token was issued for another audience.');
      throw invalid();
    }
  }

  return {
    /** A handoff token for `audience`, which must be exactly one of the tenant's allowed origins (400 otherwise). */
    async issue(tenant: Tenant, p: SessionPrincipal, audience: string, ctx: AuditContext): Promise<{ token: string; expiresIn: number }> {
      if (!tenant.settings.allowedOrigins.includes(audience)) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'cross_domain.issue', outcome: 'denied', ...ctx, metadata: { audience, reason: 'audience_not_allowed' } });
        throw new AppError('validation_failed', 'Invalid request: audience must be exactly one of the tenant\'s allowed origins.', {
          details: [{ path: 'body.audience', message: 'must be exactly one of the tenant\'s allowed origins (scheme, host and port, no path)' }],
        });
      }
      const iat = Math.floor(clock.nowMs() / 1000);
      const claims: HandoffClaims = { iss: issuer, aud: audience, sub: p.userId, tid: tenant.id, sid: p.sessionId, jti: randomUUID(), iat, exp: iat + HANDOFF_TTL_SECONDS };
      const { kid, key } = keys.signer();
      const token = await new jose.SignJWT({ ...claims }).setProtectedHeader({ alg: keys.alg, kid, typ: HANDOFF_TYP }).sign(key);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, target: claims.jti, action: 'cross_domain.issue', outcome: 'success', ...ctx, metadata: { audience } });
      return { token, expiresIn: HANDOFF_TTL_SECONDS };
    },

    /**
     * Verifies a handoff token for `audience` and uses it up. Every failure is a 401 (invalid_token,
     * token_expired, token_replayed), never a 200, so a client that only checks the status cannot accept a
     * bad token. Nothing is used up when a check fails; the JTI insert is the last step and its
     * failure (Postgres down) is a 503, never a success.
     */
    async verify(tenant: Tenant, token: string, audience: string, ctx: AuditContext): Promise<{ valid: true; userId: string; tenantId: string; claims: HandoffClaims }> {
      const deny = async (err: AppError, reason: string, c?: HandoffClaims): Promise<never> => {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: c?.jti ?? null, action: 'cross_domain.verify', outcome: 'denied', ...ctx, metadata: { audience, reason, ...(c ? { userId: c.sub } : {}) } });
        throw err;
      };
      if (!tenant.settings.allowedOrigins.includes(audience)) return deny(invalid('The audience is not one of the tenant\'s allowed origins.'), 'audience_not_allowed');
      let c: HandoffClaims;
      try {
        c = await decode(token, audience);
      } catch (err) {
        return deny(err as AppError, (err as AppError).code === 'token_expired' ? 'expired' : 'invalid');
      }
      if (c.tid !== tenant.id) return deny(invalid('The handoff token belongs to another tenant.'), 'tenant_mismatch', c);
      // A token outlives neither the session it was issued from nor the account (SECURITY XD-04 step 3).
      const live = (await sessions.list(tenant.id, c.sub)).some((s) => s.id === c.sid);
      if (!live) return deny(invalid('The session that issued the handoff token has ended.'), 'session_ended', c);
      const used = await sql.tx(tenant.id, async (tx) => {
        const user = await userStore.byId(tx, c.sub);
        if (!user || user.disabled) return 'inactive' as const;
        const now = clock.now();
        if (now.getTime() - (lastSweep.get(tenant.id) ?? 0) >= SWEEP_INTERVAL_MS) {
          lastSweep.set(tenant.id, now.getTime());
          await nonceStore.sweep(tx, now);
        }
        // Kept until the token could no longer pass the expiry check, whatever the leeway.
        const expiresAt = new Date((c.exp + CLOCK_TOLERANCE_SECONDS + 60) * 1000);
        return (await nonceStore.use(tx, { tenantId: tenant.id, jti: c.jti, now, expiresAt })) ? 'ok' as const : 'replayed' as const;
      });
      if (used === 'inactive') return deny(invalid('The account is no longer active.'), 'inactive_user', c);
      if (used === 'replayed') return deny(new AppError('token_replayed', 'This handoff token has already been used.'), 'replayed', c);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: c.sub }, target: c.jti, action: 'cross_domain.verify', outcome: 'success', ...ctx, metadata: { audience } });
      return { valid: true, userId: c.sub, tenantId: c.tid, claims: c };
    },
  };
}
