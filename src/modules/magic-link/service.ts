import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore } from '../users/store.js';
import type { SignIn, SignInResult } from '../sessions/sign-in.js';
import { deliverLink, type LinkDeps } from '../one-time-tokens/deliver.js';
import { allowedRedirect, MAIL_ACCEPTED, sameAddress } from '../one-time-tokens/mail.js';
import type { AccountClaim, ClaimOutcome } from '../users/claim.js';
import type { Events } from '../webhooks/events.js';

export type MagicLinkService = ReturnType<typeof createMagicLinkService>;

/**
 * Passwordless sign-in by emailed link (DESIGN "instant link"). Email becomes a single factor, an
 * accepted L2 risk (SECURITY §D-2); users with MFA still get MfaRequiredResponse from signIn.
 */
export function createMagicLinkService(deps: LinkDeps & { sql: Sql; clock: Clock; signIn: SignIn; claim: AccountClaim; events?: Events }) {
  const { sql, clock, tokens, audit, signIn, claim, events } = deps;

  const fail = async (tenant: Tenant, token: string, ctx: AuditContext, known?: { reason: string; userId: string | null }): Promise<never> => {
    const f = known
      ? { reason: known.reason, error: new AppError('invalid_token', 'This sign-in link is no longer valid for this account; request a new one.') }
      : await tokens.failure(tenant.id, 'magic_link', token, 'sign-in link');
    await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: known?.userId ?? null, action: 'magic_link.verify', outcome: 'failure', ...ctx, metadata: { reason: f.reason } });
    throw f.error;
  };

  return {
    /**
     * Mails a sign-in link (15 minutes) to an active account, or — when the tenant allows sign-up by
     * link — to an unknown address (the account is created only when the link is used). The same
     * answer for every address.
     */
    async request(tenant: Tenant, input: { email: string; redirectUrl?: string }, ctx: AuditContext): Promise<typeof MAIL_ACCEPTED> {
      const redirectUrl = allowedRedirect(tenant, input.redirectUrl);
      const user = await sql.tx(tenant.id, (tx) => userStore.byEmail(tx, input.email));
      const recipient = user
        ? (!user.disabled && user.email ? { to: user.email, userId: user.id } : null)
        : (tenant.settings.magicLinkSignup ? { to: input.email, userId: null } : null);
      return deliverLink(deps, {
        tenant, purpose: 'magic_link', email: input.email, redirectUrl, ctx, recipient,
        refusal: user ? 'disabled' : 'signup_closed',
        path: '/instant-link/verify',
        mail: user
          ? { subject: 'Your sign-in link', intro: 'Use this link to sign in.', action: 'Sign in',
            ignore: 'If you did not ask to sign in, ignore this email — nothing will change and nobody is signed in.' }
          : { subject: 'Your sign-up link', intro: 'Use this link to create your account and sign in.', action: 'Create your account',
            ignore: 'If you did not sign up for this account, ignore this email — nothing will change and no account is created.' },
        auditAction: 'magic_link.request',
      });
    },

    /**
     * Consumes a magic-link token and hands the user to signIn (amr ["email"]): AuthResponse, or
     * MfaRequiredResponse when the user has MFA. Marks the address verified; creates the account for a
     * sign-up link. 401 invalid_token when the token cannot be used.
     */
    async verify(tenant: Tenant, token: string, ctx: AuditContext): Promise<SignInResult> {
      const r = await sql.tx(tenant.id, async (tx) => {
        const t = await tokens.consume(tx, 'magic_link', token);
        if (!t) return { kind: 'unusable' as const };
        let user = t.userId ? await userStore.byId(tx, t.userId) : await userStore.byEmail(tx, t.email);
        let isNewUser = false;
        if (t.userId && (!user || !sameAddress(user.email, t.email))) return { kind: 'changed' as const, userId: t.userId };
        if (!user) {
          if (!tenant.settings.magicLinkSignup) throw new AppError('forbidden', 'This tenant does not allow sign-up by email link.');
          const inserted = await userStore.insert(tx, { tenantId: tenant.id, email: t.email, emailVerified: true, now: clock.now() });
          // Null: someone registered the address after the link was sent; sign in to that account.
          user = inserted ?? await userStore.byEmail(tx, t.email);
          isNewUser = !!inserted;
          if (inserted) await events?.emit(tx, tenant.id, 'user.created', { userId: inserted.id, email: inserted.email, method: 'magic_link' });
        }
        if (!user) return { kind: 'unusable' as const };
        if (user.disabled) return { kind: 'changed' as const, userId: user.id };
        // A sign-in link is used without a session by nature: an unverified account is claimed clean.
        const outcome: ClaimOutcome = await claim.prove(tx, { tenantId: tenant.id, userId: user.id, email: t.email, via: 'magic_link', sessionUserId: null }, clock.now());
        if (outcome.kind === 'mismatch') return { kind: 'changed' as const, userId: user.id };
        // Read again: verified now, and a claim removed the password and moved the session epoch.
        user = (await userStore.byId(tx, user.id))!;
        return { kind: 'ok' as const, user, isNewUser, outcome };
      });
      if (r.kind === 'unusable') return fail(tenant, token, ctx);
      if (r.kind === 'changed') return fail(tenant, token, ctx, { reason: 'account_changed_or_disabled', userId: r.userId });
      await claim.settle(tenant.id, r.outcome, ctx);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: r.user.id }, target: r.user.id, action: 'magic_link.verify', outcome: 'success', ...ctx, metadata: { isNewUser: r.isNewUser } });
      return signIn.complete({ tenant, user: publicUser(r.user), amr: ['email'], method: 'magic_link', ctx, isNewUser: r.isNewUser });
    },
  };
}
