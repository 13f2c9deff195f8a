import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore } from '../users/store.js';
import type { SecondFactorStep, SignIn, SignInResult } from '../sessions/sign-in.js';
import type { MfaKvStore } from './kv-store.js';
import { mfaStore } from './store.js';
import type { CodeVerifier, SecondFactorInput } from './verifier.js';

export const MFA_TOKEN_TTL_MS = 5 * 60_000;

const badToken = () => new AppError('invalid_token', 'The mfaToken is invalid, expired or already used; sign in again.');

/**
 * Sign-in with a second factor. `secondFactor` is the step every sign-in method passes through
 * (signIn.complete): for a user with MFA it answers MfaRequiredResponse and creates no session
 * (MFA-04, MFA-05). `complete` is POST /login/mfa.
 */
export function createMfaLogin(deps: { sql: Sql; clock: Clock; audit: AuditService; kv: MfaKvStore; verifier: CodeVerifier; signIn: SignIn }) {
  const { sql, clock, audit, kv, verifier } = deps;

  const secondFactor: SecondFactorStep = {
    async challenge(tenant, user, o) {
      const enabled = o.mfaEnabled ?? !!(await sql.tx(tenant.id, (tx) => mfaStore.factor(tx, user.id)))?.enabledAt;
      if (!enabled) return null;
      // An opaque, single-use token bound to tenant (its key space) and user; no session exists yet.
      const mfaToken = await kv.putLogin(tenant.id, { userId: user.id, amr: o.amr, method: o.method, sessionEpoch: user.sessionEpoch, expiresAt: clock.nowMs() + MFA_TOKEN_TTL_MS }, clock.nowMs());
      return { mfaRequired: true as const, mfaToken, userId: user.id };
    },
  };

  return {
    secondFactor,

    /**
     * Finishes a sign-in that answered mfaRequired: checks the code (wrong codes leave the mfaToken
     * usable, within the per-user limit), then uses up the mfaToken — of concurrent requests with one
     * token, exactly one gets a session — and starts the session with `otp` in amr and a step-up mark.
     */
    async complete(tenant: Tenant, body: { mfaToken: string; code?: string; recoveryCode?: string }, ctx: AuditContext): Promise<SignInResult> {
      const pending = await kv.peekLogin(tenant.id, body.mfaToken);
      if (!pending || pending.expiresAt <= clock.nowMs()) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'mfa.login', outcome: 'failure', ...ctx, metadata: { reason: pending ? 'mfa_token_expired' : 'unknown_mfa_token' } });
        throw badToken();
      }
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, pending.userId));
      if (!user) throw badToken();
      const input: SecondFactorInput = body.code !== undefined ? { totp: body.code } : { recoveryCode: body.recoveryCode! };
      const v = { tenantId: tenant.id, userId: user.id, action: 'mfa.login', actor: { type: 'user', id: user.id }, ctx };
      const factor = await verifier.verify(v, input);
      const taken = await kv.takeLogin(tenant.id, body.mfaToken);
      if (!taken || taken.expiresAt <= clock.nowMs() || taken.userId !== user.id) {
        await audit.record({ tenantId: tenant.id, actor: v.actor, action: 'mfa.login', target: user.id, outcome: 'failure', ...ctx, metadata: { reason: 'mfa_token_used' } });
        throw badToken();
      }
      await audit.record({ tenantId: tenant.id, actor: v.actor, action: 'mfa.login', target: user.id, outcome: 'success', ...ctx, metadata: { factor, method: taken.method } });
      if (factor === 'recovery_code') {
        const remaining = await sql.tx(tenant.id, (tx) => mfaStore.recoveryCodesRemaining(tx, user.id));
        await audit.record({ tenantId: tenant.id, actor: v.actor, action: 'mfa.recovery_code.use', target: user.id, outcome: 'success', ...ctx, metadata: { flow: 'login', remaining } });
      }
      // The session starts under the epoch of the first factor: a password reset, disable or "sign out
      // everywhere" between the two steps ends this sign-in too (sessions.start checks it under a lock).
      const sessionEpoch = taken.sessionEpoch ?? user.sessionEpoch;
      return deps.signIn.complete({
        tenant, user: { ...publicUser(user), sessionEpoch }, amr: [...new Set([...taken.amr, 'otp'])], method: taken.method, ctx, secondFactorPassed: true,
      });
    },
  };
}
