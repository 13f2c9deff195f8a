import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore } from '../users/store.js';
import type { AccountClaim } from '../users/claim.js';
import { deliverLink, type LinkDeps } from '../one-time-tokens/deliver.js';
import { allowedRedirect, MAIL_ACCEPTED } from '../one-time-tokens/mail.js';
import type { Events } from '../webhooks/events.js';

export type EmailVerificationService = ReturnType<typeof createEmailVerificationService>;

export interface EmailVerified {
  verified: true;
  email: string;
  /** true when the account was claimed: everything its unverified registrant attached was removed */
  accountClaimed: boolean;
  message: string;
}

export const VERIFIED_MESSAGE = 'The address is verified.';
export const CLAIMED_MESSAGE = 'The address is verified. The link was opened without a session of this account, so everything the account '
  + 'had for signing in (password, linked providers, passkeys, authenticator app, wallet, API keys) was removed and every session ended: '
  + 'whoever registered the address had not proved it. Sign in with an emailed sign-in link (POST /instant-link), '
  + 'or choose a password through POST /password/forgot where the app allows passwords.';

/** The mail's line for a reader who did not sign up (or who opens it on another device). */
const IGNORE = 'If you did not sign up for this account, someone else entered your address: ignore this email and nothing changes, '
  + 'or open the link without being signed in to make the account yours — everything that person set up (password, linked sign-ins, '
  + 'passkeys, authenticator app, wallet, API keys, sessions) is removed, and you sign in with a sign-in link or by resetting the password. '
  + 'If you signed up yourself, open the link where you are signed in to keep your password; opened anywhere else, it removes it the same way.';

const VERIFY_MAIL = {
  subject: 'Confirm your email address', intro: 'Confirm that this address is yours.', action: 'Confirm your email address',
  ignore: IGNORE,
};

/**
 * Email verification: mail a single-use link to an unverified address; using it marks the address verified
 * through the account claim (src/modules/users/claim.ts): without a session of the same account, the
 * account is claimed clean.
 */
export function createEmailVerificationService(deps: LinkDeps & { sql: Sql; clock: Clock; claim: AccountClaim; events?: Events }) {
  const { sql, clock, tokens, audit, claim, events } = deps;

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
        mail: VERIFY_MAIL,
        auditAction: 'email.verify_request',
      });
    },

    /**
     * Resend for a signed-in user: mails the link to the user's own address. Unlike the anonymous request,
     * the caller learns the outcome (it is their own account): 409 when already verified, 400 when the
     * account has no email or `email` names another address.
     */
    async requestForSelf(tenant: Tenant, userId: string, input: { email?: string; redirectUrl?: string }, ctx: AuditContext): Promise<typeof MAIL_ACCEPTED> {
      const redirectUrl = allowedRedirect(tenant, input.redirectUrl);
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, userId));
      if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
      if (!user.email) throw new AppError('validation_failed', 'This account has no email address to verify.');
      if (input.email !== undefined && input.email.toLowerCase() !== user.email.toLowerCase()) {
        throw new AppError('validation_failed', 'Signed in, the link goes to your own address: leave out email or send that address.', { details: [{ path: 'email', message: 'is not the signed-in user\'s address' }] });
      }
      if (user.emailVerified) throw new AppError('conflict', 'The address is already verified.');
      return deliverLink(deps, {
        tenant, purpose: 'email_verification', email: user.email, redirectUrl, ctx,
        recipient: { to: user.email, userId: user.id },
        path: '/email/verify',
        mail: VERIFY_MAIL,
        auditAction: 'email.verify_request',
      });
    },

    /**
     * Consumes a verification token and proves the address (the account claim decides what stays): a
     * session of the same account (`sessionUserId`) keeps every factor, anything else claims the account.
     * 401 invalid_token when the token is unknown, of another tenant or purpose, expired or used, or the
     * account's address has changed.
     */
    async verify(tenant: Tenant, input: { token: string; sessionUserId: string | null }, ctx: AuditContext): Promise<EmailVerified> {
      const result = await sql.tx(tenant.id, async (tx) => {
        const t = await tokens.consume(tx, 'email_verification', input.token);
        if (!t?.userId) return null;
        const user = await userStore.byId(tx, t.userId);
        // The token proves control of the address it was sent to, nothing else.
        const outcome = user && !user.disabled
          ? await claim.prove(tx, { tenantId: tenant.id, userId: user.id, email: t.email, via: 'email_verification', sessionUserId: input.sessionUserId }, clock.now())
          : { kind: 'mismatch' as const };
        if (outcome.kind === 'mismatch') return { failed: 'account_changed' as const, userId: t.userId };
        await events?.emit(tx, tenant.id, 'email.verified', { userId: t.userId, email: user!.email });
        return { userId: t.userId, email: user!.email!, outcome };
      });
      if (!result || 'failed' in result) {
        const f = result
          ? { reason: result.failed, error: new AppError('invalid_token', 'This verification link no longer matches the account; request a new one.') }
          : await tokens.failure(tenant.id, 'email_verification', input.token, 'verification link');
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: result?.userId ?? null, action: 'email.verify', outcome: 'failure', ...ctx, metadata: { reason: f.reason } });
        throw f.error;
      }
      await claim.settle(tenant.id, result.outcome, ctx);
      const accountClaimed = result.outcome.kind === 'claimed';
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: result.userId }, target: result.userId, action: 'email.verify', outcome: 'success', ...ctx, metadata: { email: result.email, accountClaimed } });
      return { verified: true, email: result.email, accountClaimed, message: accountClaimed ? CLAIMED_MESSAGE : VERIFIED_MESSAGE };
    },
  };
}
