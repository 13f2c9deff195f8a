import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import type { SessionService } from '../sessions/service.js';
import type { PasswordHasher } from '../password/hasher.js';
import type { PasswordService } from '../password/service.js';
import { normalizePassword } from '../password/policy.js';
import type { Events } from '../webhooks/events.js';

export type PasswordChangeService = ReturnType<typeof createPasswordChangeService>;

/** Changing the password of a signed-in user: needs the current one (SECURITY PWD-09), ends the other sessions. */
export function createPasswordChangeService(deps: { sql: Sql; clock: Clock; hasher: PasswordHasher; password: PasswordService; sessions: SessionService; audit: AuditService; events?: Events }) {
  const { sql, clock, hasher, password, sessions, audit, events } = deps;

  return {
    /**
     * Verifies `currentPassword` (401 invalid_credentials otherwise, with the same argon2id work for an
     * account that has no password), applies the policy to the new one, stores it and ends every other
     * session of the user. Returns how many sessions ended.
     */
    async change(tenant: Tenant, p: SessionPrincipal, input: { currentPassword: string; newPassword: string }, ctx: AuditContext): Promise<{ message: string; sessionsEnded: number }> {
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, p.userId));
      if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
      const current = normalizePassword(input.currentPassword);
      const ok = user.passwordHash ? await hasher.verify(user.passwordHash, current) : await hasher.verifyDummy(current);
      if (!ok) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: user.id }, target: user.id, action: 'password.change', outcome: 'failure', ...ctx, metadata: { reason: user.passwordHash ? 'wrong_password' : 'no_password' } });
        throw new AppError('invalid_credentials', user.passwordHash
          ? 'The current password is incorrect.'
          : 'The current password is incorrect. An account without a password sets one with POST /password/forgot.');
      }
      if (normalizePassword(input.newPassword) === current) {
        throw new AppError('validation_failed', 'Invalid request: newPassword must differ from the current password.', { details: [{ path: 'body.newPassword', message: 'must differ from the current password' }] });
      }
      password.checkPassword(input.newPassword, user.email, tenant);
      const hash = await hasher.hash(normalizePassword(input.newPassword));
      // The caller just proved the password: their own session stays; every other one ends (SES-03), in the
      // transaction that stores the hash — and only if nothing revoked the user's sessions since the hash
      // was read (a reset in between wins; this change then fails).
      const sessionsEnded = await sql.tx(tenant.id, async (tx) => {
        await userStore.setPasswordHash(tx, user.id, hash, clock.now());
        const ended = await sessions.endAllIn(tx, tenant.id, user.id, { except: p.sessionId, ifEpoch: user.sessionEpoch });
        await events?.emit(tx, tenant.id, 'password.changed', { userId: user.id, sessionsEnded: ended });
        return ended;
      });
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: user.id }, target: user.id, action: 'password.change', outcome: 'success', ...ctx, metadata: { sessionsEnded } });
      return { message: 'The password has been changed; your other sessions have been signed out.', sessionsEnded };
    },
  };
}
