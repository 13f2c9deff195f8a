import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import type { AccountClaim } from '../users/claim.js';
import type { SessionService } from '../sessions/service.js';
import type { PasswordHasher } from '../password/hasher.js';
import type { LoginThrottle, PasswordService } from '../password/service.js';
import { normalizePassword } from '../password/policy.js';
import { deliverLink, type LinkDeps } from '../one-time-tokens/deliver.js';
import { allowedRedirect, MAIL_ACCEPTED, sameAddress } from '../one-time-tokens/mail.js';
import type { Events } from '../webhooks/events.js';

export type PasswordResetService = ReturnType<typeof createPasswordResetService>;

export const RESET_DONE = { message: 'The password has been changed and every session has been signed out; sign in with the new password.' } as const;

/**
 * Password reset by emailed link. A reset sets the password, ends every session of the user, empties the
 * account's sign-in throttle, and never signs anyone in: the next sign-in goes through /login, MFA included
 * (SECURITY PWD-07).
 */
export function createPasswordResetService(deps: LinkDeps & {
  sql: Sql; clock: Clock; hasher: PasswordHasher; password: PasswordService; sessions: SessionService; claim: AccountClaim; events?: Events;
  /** the per-account password-attempt limit (PWD-06); a reset empties it as a right password does */
  throttle?: Pick<LoginThrottle, 'succeeded'>;
}) {
  const { sql, clock, tokens, audit, hasher, password, sessions, claim } = deps;

  const fail = async (tenant: Tenant, token: string, ctx: AuditContext, known?: { reason: string; userId: string }): Promise<never> => {
    const f = known
      ? { reason: known.reason, error: new AppError('invalid_token', 'This reset link is no longer valid for this account; request a new one.') }
      : await tokens.failure(tenant.id, 'password_reset', token, 'reset link');
    await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: known?.userId ?? null, action: 'password.reset', outcome: 'failure', ...ctx, metadata: { reason: f.reason } });
    throw f.error;
  };

  return {
    /** Mails a reset link (1 hour) to an active account; the same answer for every address. */
    async forgot(tenant: Tenant, input: { email: string; redirectUrl?: string }, ctx: AuditContext): Promise<typeof MAIL_ACCEPTED> {
      const redirectUrl = allowedRedirect(tenant, input.redirectUrl);
      const user = await sql.tx(tenant.id, (tx) => userStore.byEmail(tx, input.email));
      // A password-less account (magic link, passkey…) may add a password only where password sign-up is allowed.
      const ok = !!user && !user.disabled && !!user.email && (!!user.passwordHash || tenant.settings.passwordSignup);
      return deliverLink(deps, {
        tenant, purpose: 'password_reset', email: input.email, redirectUrl, ctx,
        recipient: ok ? { to: user!.email!, userId: user!.id } : null,
        refusal: !user ? 'no_account' : user.disabled ? 'disabled' : 'password_not_allowed',
        path: '/password/reset',
        mail: {
          subject: 'Reset your password', intro: 'Someone asked to reset the password of the account with this address.', action: 'Choose a new password',
          ignore: 'If you did not ask to reset your password, ignore this email — nothing will change and your password stays as it is.',
        },
        auditAction: 'password.reset_request',
      });
    },

    /**
     * Sets a new password with a reset token and revokes every session of the user. The password is
     * checked against the policy before the token is used, so a refused password does not burn the
     * link; the token is then consumed in the same transaction that writes the hash (one racer wins).
     */
    async reset(tenant: Tenant, input: { token: string; password: string }, ctx: AuditContext): Promise<typeof RESET_DONE> {
      const pending = await sql.tx(tenant.id, async (tx) => {
        const t = await tokens.peek(tx, 'password_reset', input.token);
        return t?.userId ? { token: t, user: await userStore.byId(tx, t.userId) } : null;
      });
      if (!pending) return fail(tenant, input.token, ctx);
      const { user } = pending;
      if (!user || user.disabled || !sameAddress(user.email, pending.token.email)) {
        return fail(tenant, input.token, ctx, { reason: 'account_changed', userId: pending.token.userId! });
      }
      password.checkPassword(input.password, user.email, tenant);
      const hash = await hasher.hash(normalizePassword(input.password));
      // One transaction: the token is spent, the password set and every session ended together. If the
      // session store cannot be reached, all of it rolls back (503) and the link still works.
      const done = await sql.tx(tenant.id, async (tx) => {
        const t = await tokens.consume(tx, 'password_reset', input.token);
        if (!t || t.userId !== user.id) return null;
        // The link reached the address, which proves it can receive mail: whatever an unverified
        // registrant attached to the account goes before the owner's new password is set. A reset is
        // used without a session by nature (it is how a locked-out owner gets in).
        const outcome = await claim.prove(tx, { tenantId: tenant.id, userId: user.id, email: t.email, via: 'password_reset', sessionUserId: null }, clock.now());
        if (outcome.kind === 'mismatch') return { changed: true as const };
        await userStore.setPasswordHash(tx, user.id, hash, clock.now());
        const sessionsEnded = outcome.kind === 'claimed' ? outcome.sessionsEnded : await sessions.endAllIn(tx, tenant.id, user.id);
        await deps.events?.emit(tx, tenant.id, 'password.reset', { userId: user.id, sessionsEnded });
        return { outcome, sessionsEnded };
      });
      if (!done) return fail(tenant, input.token, ctx);
      if ('changed' in done) return fail(tenant, input.token, ctx, { reason: 'account_changed', userId: user.id });
      await claim.settle(tenant.id, done.outcome, ctx);
      // The guesses it counted were at the old password, and whoever holds the link holds the mailbox: the
      // owner who was locked out by someone else's guessing signs in with the new password at once.
      await deps.throttle?.succeeded(tenant.id, user.email!);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: user.id }, target: user.id, action: 'password.reset', outcome: 'success', ...ctx, metadata: { sessionsEnded: done.sessionsEnded } });
      return RESET_DONE;
    },
  };
}
