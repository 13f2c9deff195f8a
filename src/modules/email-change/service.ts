import type { Config } from '../../config.js';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256 } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Mailer } from '../mail/mailer.js';
import type { Tenant } from '../tenants/schemas.js';
import type { SessionService } from '../sessions/service.js';
import type { PasswordHasher } from '../password/hasher.js';
import { normalizePassword } from '../password/policy.js';
import { TOKEN_TTL_MS, type OneTimeTokens } from '../one-time-tokens/service.js';
import { allowedRedirect, linkFor, linkMail, MAIL_ACCEPTED, sameAddress } from '../one-time-tokens/mail.js';
import { userStore } from '../users/store.js';
import { emailChangeStore } from './store.js';
import type { Events } from '../webhooks/events.js';

export type EmailChangeService = ReturnType<typeof createEmailChangeService>;

const CONFIRM_PATH = '/email/change/confirm';
const CANCEL_PATH = '/email/change/cancel';

const taken = () => new AppError('email_taken', 'That address cannot be used for this account; request a change to another one.');

/**
 * Changing the address of a signed-in account (SECURITY PWD-09): re-authentication (current password for
 * accounts with one; the TOTP gate on the route for MFA users), a link to the new address that must be
 * used to switch, and a notice to the old address whose link undoes the change for 72 h.
 */
export function createEmailChangeService(deps: {
  config: Readonly<Config>; sql: Sql; clock: Clock; hasher: PasswordHasher; tokens: OneTimeTokens; mailer: Mailer;
  sessions: Pick<SessionService, 'endAllIn'>; audit: AuditService;
  /** drops the user's cached API-key validations on every instance (they carry the address for ABAC) */
  onAddressChanged: (userId: string) => Promise<void>;
  events?: Events;
}) {
  const { config, sql, clock, hasher, tokens, mailer, sessions, audit, events } = deps;

  return {
    /**
     * An operator sets a user's address (admin plane): verified, because the operator vouches for it; every
     * session of the user ends and pending self-service changes are dropped. No mail is sent. False when the
     * user is unknown; 409 email_taken when another account holds the address; 409 conflict for a deleted user.
     */
    async setByOperator(tenantId: string, userId: string, email: string): Promise<{ sessionsEnded: number } | null> {
      const done = await sql.tx(tenantId, async (tx) => {
        const user = await emailChangeStore.lockAnyUser(tx, userId);
        if (!user) return null;
        if (user.deleted) throw new AppError('conflict', 'The user was deleted; a deleted account cannot get an address.');
        if (!(await userStore.setVerifiedEmail(tx, userId, email, clock.now(), (a) => audit.addressLookup(tenantId, a)))) throw taken();
        await emailChangeStore.dropPending(tx, userId);
        await events?.emit(tx, tenantId, 'email.changed', { userId, by: 'operator' });
        return { sessionsEnded: await sessions.endAllIn(tx, tenantId, userId) };
      });
      if (done) await deps.onAddressChanged(userId);
      return done;
    },

    /**
     * Checks the caller's password (when the account has one), then mails the links. The answer is the same
     * whether the new address is free or held by another account (no enumeration); a taken address fails
     * at confirmation (409). Over the per-address mail cap nothing is written or sent, with the same answer.
     */
    async request(tenant: Tenant, p: SessionPrincipal, input: { newEmail: string; currentPassword?: string; redirectUrl?: string }, ctx: AuditContext): Promise<typeof MAIL_ACCEPTED> {
      const redirectUrl = allowedRedirect(tenant, input.redirectUrl);
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, p.userId));
      if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
      if (user.passwordHash && input.currentPassword === undefined) {
        throw new AppError('validation_failed', 'Invalid request: currentPassword is required for an account with a password.', { details: [{ path: 'body.currentPassword', message: 'is required for an account with a password' }] });
      }
      if (user.passwordHash && !(await hasher.verify(user.passwordHash, normalizePassword(input.currentPassword!)))) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: user.id }, target: user.id, action: 'email.change_request', outcome: 'failure', ...ctx, metadata: { reason: 'wrong_password' } });
        throw new AppError('invalid_credentials', 'The current password is incorrect.');
      }
      if (sameAddress(user.email, input.newEmail)) {
        throw new AppError('validation_failed', 'Invalid request: newEmail is already the address of this account.', { details: [{ path: 'body.newEmail', message: 'is already the address of this account' }] });
      }
      let outcome = 'sent';
      // Both mailboxes are capped: the new one (like every link flow) and the old one, so that a session
      // holder cannot flood the owner with notices by asking for many different addresses.
      const mayMailNew = await tokens.mayMail(tenant.id, 'email_change', input.newEmail);
      const mayMailOld = user.email ? await tokens.mayMail(tenant.id, 'email_change_cancel', user.email) : true;
      if (mayMailNew && mayMailOld) {
        const confirmToken = randomToken(32);
        const cancelToken = randomToken(32);
        const now = clock.now();
        await sql.tx(tenant.id, (tx) => emailChangeStore.replacePending(tx, {
          tenantId: tenant.id, userId: user.id, now,
          confirm: { tokenHash: sha256(confirmToken), email: input.newEmail, expiresAt: new Date(now.getTime() + TOKEN_TTL_MS.email_change) },
          cancel: user.email ? { tokenHash: sha256(cancelToken), email: user.email, expiresAt: new Date(now.getTime() + TOKEN_TTL_MS.email_change_cancel) } : null,
        }));
        const link = (path: string, token: string) => linkFor({ publicUrl: config.publicUrl, basePath: config.basePath, path, token, redirectUrl, ui: config.ui, tenantSlug: tenant.slug });
        mailer.sendInBackground(linkMail({
          to: input.newEmail, tenant, subject: 'Confirm your new email address',
          intro: 'Someone asked to use this address for their account. If it was you, confirm it with the link below.',
          action: 'Use this address for my account', ignore: 'If you did not ask for this, ignore this mail: nothing changes.',
          link: link(CONFIRM_PATH, confirmToken), ttlMinutes: TOKEN_TTL_MS.email_change / 60_000,
        }));
        if (user.email) {
          mailer.sendInBackground(linkMail({
            to: user.email, tenant, subject: 'Your email address is being changed',
            intro: 'A change of the email address of your account was requested. It takes effect when the new address is confirmed.',
            action: 'This was not me: cancel the change (or undo it, if it was already confirmed)',
            ignore: 'If you made this change, ignore this mail.',
            link: link(CANCEL_PATH, cancelToken), ttlMinutes: TOKEN_TTL_MS.email_change_cancel / 60_000,
          }));
        }
      } else {
        outcome = 'mail_cap_reached';
      }
      // No address in the audit row: it outlives the account (see account deletion), and the id is enough.
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: user.id }, target: user.id, action: 'email.change_request', outcome: 'success', ...ctx, metadata: { outcome } });
      return MAIL_ACCEPTED;
    },

    /**
     * Consumes the confirmation token and sets the new address (verified); ends every session of the user
     * but `keepSessionId` (the caller's own, when it is a session of this user). 401 for an unknown, used or
     * expired token; 409 email_taken (nothing changed, the token still usable) when another account holds the address.
     */
    async confirm(tenant: Tenant, token: string, keep: { userId: string; sessionId: string } | null, ctx: AuditContext): Promise<{ email: string; emailVerified: true; sessionsEnded: number; message: string }> {
      const done = await sql.tx(tenant.id, async (tx) => {
        const pending = await tokens.peek(tx, 'email_change', token);
        if (!pending?.userId) return null;
        // The user row first (cancel does the same): confirm and cancel of one user take turns.
        if (!(await emailChangeStore.lockActiveUser(tx, pending.userId))) return null;
        const t = await tokens.consume(tx, 'email_change', token);
        if (!t?.userId) return null;
        if (!(await userStore.setVerifiedEmail(tx, t.userId, t.email, clock.now(), (a) => audit.addressLookup(tenant.id, a)))) throw taken();
        await emailChangeStore.dropPending(tx, t.userId);
        const except = keep?.userId === t.userId ? keep.sessionId : undefined;
        const sessionsEnded = await sessions.endAllIn(tx, tenant.id, t.userId, { except });
        await events?.emit(tx, tenant.id, 'email.changed', { userId: t.userId, by: 'user' });
        return { userId: t.userId, email: t.email, sessionsEnded };
      });
      if (!done) {
        const { error, reason } = await tokens.failure(tenant.id, 'email_change', token, 'email change link');
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'email.change', outcome: 'failure', ...ctx, metadata: { reason } });
        throw error;
      }
      await deps.onAddressChanged(done.userId);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: done.userId }, target: done.userId, action: 'email.change', outcome: 'success', ...ctx, metadata: { sessionsEnded: done.sessionsEnded } });
      return { email: done.email, emailVerified: true, sessionsEnded: done.sessionsEnded, message: 'The email address has been changed; your other sessions have been signed out.' };
    },

    /**
     * Consumes a cancel token (mailed to the old address). Drops the user's unconfirmed changes; when the
     * account's address is no longer the old one (the change was confirmed), puts the old address back
     * (verified) and ends every session — whoever changed it may hold one. 401 for an unusable token;
     * 409 when the old address has meanwhile been taken by another account (nothing changed).
     */
    async cancel(tenant: Tenant, token: string, ctx: AuditContext): Promise<{ reverted: boolean; pendingCancelled: number; sessionsEnded: number; message: string }> {
      const done = await sql.tx(tenant.id, async (tx) => {
        const notice = await tokens.peek(tx, 'email_change_cancel', token);
        if (!notice?.userId) return null;
        const user = await emailChangeStore.lockActiveUser(tx, notice.userId);
        if (!user) return null;
        const t = await tokens.consume(tx, 'email_change_cancel', token);
        if (!t?.userId) return null;
        const pendingCancelled = await emailChangeStore.dropPending(tx, t.userId);
        if (sameAddress(user.email, t.email)) return { userId: t.userId, reverted: false, pendingCancelled, sessionsEnded: 0 };
        if (!(await userStore.setVerifiedEmail(tx, t.userId, t.email, clock.now(), (a) => audit.addressLookup(tenant.id, a)))) throw taken();
        const sessionsEnded = await sessions.endAllIn(tx, tenant.id, t.userId);
        await events?.emit(tx, tenant.id, 'email.changed', { userId: t.userId, by: 'cancel' });
        return { userId: t.userId, reverted: true, pendingCancelled, sessionsEnded };
      });
      if (!done) {
        const { error, reason } = await tokens.failure(tenant.id, 'email_change_cancel', token, 'cancel link');
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'email.change_cancel', outcome: 'failure', ...ctx, metadata: { reason } });
        throw error;
      }
      if (done.reverted) await deps.onAddressChanged(done.userId);
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: done.userId }, target: done.userId, action: 'email.change_cancel', outcome: 'success', ...ctx,
        metadata: { reverted: done.reverted, pendingCancelled: done.pendingCancelled, sessionsEnded: done.sessionsEnded } });
      const { userId: _u, ...rest } = done;
      return { ...rest, message: done.reverted ? 'The old address is back and every session has been signed out; sign in again and review your account.' : 'The pending change has been cancelled.' };
    },
  };
}
