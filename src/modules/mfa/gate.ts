import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { MfaKvStore } from './kv-store.js';
import { mfaStore } from './store.js';
import type { CodeVerifier } from './verifier.js';

/** How long a session counts as stepped up after /mfa/verify, /mfa/recovery or an MFA sign-in. */
export const STEP_UP_TTL_MS = 5 * 60_000;
/** Tolerated clock difference between instances for the step-up mark. */
const CLOCK_SKEW_MS = 5_000;
/** How long a gate challenge can be completed and used. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * Tells whether a user holds admin-level roles in an org of the tenant — decided by the permissions the roles
 * carry (the orgs module's isAdminLevel), never by their names or the access token's claims.
 */
export interface OrgAdminLookup {
  isOrgAdmin(tenantId: string, userId: string): Promise<boolean>;
}

/** Which request a challenge is for: the method and the concrete path (no query string). */
export interface GatedRequest {
  method: string;
  path: string;
}

const actor = (p: SessionPrincipal) => ({ type: 'user', id: p.userId });

/**
 * The service half of the TOTP gate on sensitive routes (DESIGN §4; the HTTP half is
 * src/http/step-up.ts). A challenge is single-use and bound to user, session, method and path; completing
 * it authorizes that one repeated request and is not a session step-up.
 */
export function createMfaGate(deps: { sql: Sql; clock: Clock; audit: AuditService; kv: MfaKvStore; verifier: CodeVerifier; hooks: { orgAdmin?: OrgAdminLookup } }) {
  const { sql, clock, audit, kv, verifier, hooks } = deps;

  const isEnabled = async (tenantId: string, userId: string): Promise<boolean> =>
    !!(await sql.tx(tenantId, (tx) => mfaStore.factor(tx, userId)))?.enabledAt;

  return {
    isEnabled,

    /**
     * Whether the session stepped up less than 5 minutes ago (by the injected clock; a mark up to
     * CLOCK_SKEW_MS in the future, written by an instance whose clock runs ahead, still counts).
     */
    isSteppedUp(p: SessionPrincipal): boolean {
      const now = clock.nowMs();
      return p.stepUpAt !== null && p.stepUpAt <= now + CLOCK_SKEW_MS && now - p.stepUpAt < STEP_UP_TTL_MS;
    },

    /**
     * A tenant with requireMfaForAdmins: an org admin (admin-level roles in any org, read from Postgres) without
     * MFA may not pass the gate. Without the orgs module nobody is an org admin.
     */
    async mustEnroll(tenant: Tenant, p: SessionPrincipal): Promise<boolean> {
      if (!tenant.settings.requireMfaForAdmins) return false;
      return (await hooks.orgAdmin?.isOrgAdmin(tenant.id, p.userId)) ?? false;
    },

    /** Creates a challenge for this request; returns its id (`ch_…`). */
    async issue(tenant: Tenant, p: SessionPrincipal, r: GatedRequest, ctx: AuditContext): Promise<string> {
      const now = clock.nowMs();
      const id = await kv.putChallenge(tenant.id, { userId: p.userId, sessionId: p.sessionId, method: r.method, path: r.path, expiresAt: now + CHALLENGE_TTL_MS }, now);
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.step_up_required', target: p.userId, outcome: 'denied', ...ctx, metadata: { method: r.method, path: r.path } });
      return id;
    },

    /**
     * Uses up the challenge named by X-TOTP-Challenge: true only when it was completed, is unexpired
     * and is bound to this user, session, method and path. Any use, right or wrong, spends it.
     */
    async redeem(tenant: Tenant, p: SessionPrincipal, id: string, r: GatedRequest, ctx: AuditContext): Promise<boolean> {
      const taken = await kv.takeChallenge(tenant.id, id);
      const c = taken?.challenge;
      const reason = !c ? 'unknown_or_used'
        : c.userId !== p.userId || c.sessionId !== p.sessionId ? 'other_session'
          : c.method !== r.method || c.path !== r.path ? 'other_request'
            : c.expiresAt <= clock.nowMs() ? 'expired'
              : !taken!.completed ? 'not_completed' : null;
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.challenge.use', target: p.userId, outcome: reason ? 'failure' : 'success', ...ctx, metadata: { method: r.method, path: r.path, ...(reason ? { reason } : {}) } });
      return reason === null;
    },

    /** POST /totp/complete: confirms a challenge of this session with a TOTP code. */
    async complete(tenant: Tenant, p: SessionPrincipal, body: { challenge: string; code: string }, ctx: AuditContext) {
      const c = await kv.peekChallenge(tenant.id, body.challenge);
      if (!c || c.userId !== p.userId || c.sessionId !== p.sessionId || c.expiresAt <= clock.nowMs()) {
        await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.challenge.complete', target: p.userId, outcome: 'failure', ...ctx, metadata: { reason: !c ? 'unknown_or_used' : c.expiresAt <= clock.nowMs() ? 'expired' : 'other_session' } });
        throw new AppError('invalid_token', 'The challenge is unknown, expired, already used, or was issued to another session; repeat the request to get a new one.');
      }
      if (await kv.isCompleted(tenant.id, body.challenge)) {
        throw new AppError('conflict', 'This challenge is already completed; repeat the request with the X-TOTP-Challenge header.');
      }
      await verifier.verify({ tenantId: tenant.id, userId: p.userId, action: 'mfa.challenge.complete', actor: actor(p), ctx }, { totp: body.code });
      await kv.markCompleted(tenant.id, body.challenge, c, clock.nowMs());
      await audit.record({ tenantId: tenant.id, actor: actor(p), action: 'mfa.challenge.complete', target: p.userId, outcome: 'success', ...ctx, metadata: { method: c.method, path: c.path } });
      return { completed: true as const, method: c.method, path: c.path, expiresAt: new Date(c.expiresAt).toISOString() };
    },
  };
}

export type MfaGate = ReturnType<typeof createMfaGate>;
