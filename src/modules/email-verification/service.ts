import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import { deliverLink, type LinkDeps } from '../one-time-tokens/deliver.js';
import { allowedRedirect, MAIL_ACCEPTED, sameAddress } from '../one-time-tokens/mail.js';

export type EmailVerificationService = ReturnType<typeof createEmailVerificationService>;

/** Email verification: mail a single-use link to an unverified address; using it marks the address verified. */
export function createEmailVerificationService(deps: LinkDeps & { sql: Sql; clock: Clock }) {
  const { sql, clock, tokens, audit } = deps;

  return {
    /** Mails a verification link when the address belongs to an active, unverified user; the same answer otherwise. */
    async request(tenant: Tenant, input: { email: string; redirectUrl?: string }, ctx: AuditContext): Promise<typeof MAIL_ACCEPTED> {
      const redirectUrl = allowedRedirect(tenant, input.redirectUrl);
      const user = await sql.tx(tenant.id, (tx) => userStore.byEmail(tx, input.email));
      const ok = !!user && !user.disabled && !user.emailVerified && !!user.email;
      return deliverLink(deps, {
        tenant, purpose: 'email_verification', email: input.email, redirectUrl, ctx,
        recipient: ok ? { to: user!.email!, userId: user!.id } : null,
        refusal: !user ? 'no_account' : user.disabled ? 'disabled' : 'already_verified',
        path: '/email/verify',
        mail: {
          subject: 'Confirm your email address', intro: 'Confirm that this address is yours.', action: 'Confirm your email address',
          ignore: 'If you did not sign up for this account, ignore this email — nothing will change.',
        },
        auditAction: 'email.verify_request',
      });
    },

    /**
     * Consumes a verification token and marks the address verified; 401 invalid_token when the token is
     * unknown, of another tenant or purpose, expired or used, or the account's address has changed.
     */
    async verify(tenant: Tenant, token: string, ctx: AuditContext): Promise<{ verified: true; email: string }> {
      const result = await sql.tx(tenant.id, async (tx) => {
        const t = await tokens.consume(tx, 'email_verification', token);
        if (!t?.userId) return null;
        const user = await userStore.byId(tx, t.userId);
        // The token proves control of the address it was sent to, nothing else.
        if (!user || user.disabled || !sameAddress(user.email, t.email)) return { failed: 'account_changed' as const, userId: t.userId };
        await userStore.setEmailVerified(tx, user.id, clock.now());
        return { userId: user.id, email: user.email! };
      });
      if (!result || 'failed' in result) {
        const f = result
          ? { reason: result.failed, error: new AppError('invalid_token', 'This verification link no longer matches the account; request a new one.') }
          : await tokens.failure(tenant.id, 'email_verification', token, 'verification link');
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: result?.userId ?? null, action: 'email.verify', outcome: 'failure', ...ctx, metadata: { reason: f.reason } });
        throw f.error;
      }
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: result.userId }, target: result.userId, action: 'email.verify', outcome: 'success', ...ctx, metadata: { email: result.email } });
      return { verified: true, email: result.email };
    },
  };
}
