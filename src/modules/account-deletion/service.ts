import type { Sql } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf, type AdminPrincipal, type SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SessionService } from '../sessions/service.js';
import type { PasswordHasher } from '../password/hasher.js';
import { normalizePassword } from '../password/policy.js';
import { apiKeyStore } from '../api-keys/store.js';
import { memberStore, orgStore } from '../orgs/store.js';
import { userStore } from '../users/store.js';
import { accountDeletionStore } from './store.js';
import type { Events } from '../webhooks/events.js';

export type AccountDeletionService = ReturnType<typeof createAccountDeletionService>;

export interface DeletionResult { userId: string; tenantId: string; sessionsEnded: number; apiKeysRevoked: number; orgsLeft: number }

/**
 * Deleting an account (GDPR Art. 17): every session ends, every API key is revoked, memberships go, and
 * every personal datum is erased, while the users row stays as a pseudonymous tombstone (its id) so the
 * hash-chained audit log keeps verifying and keeps naming who did what. A user who is the last owner of
 * an org must hand it over first (409 naming the org).
 */
export function createAccountDeletionService(deps: {
  sql: Sql; clock: Clock; hasher: PasswordHasher; sessions: Pick<SessionService, 'endAllIn'>; audit: AuditService;
  /** after commit: drops the user's API keys from every instance's cache */
  invalidateKeys: (userId: string) => Promise<void>;
  /** after commit: drops the org's cached memberships on every instance */
  invalidateOrg: (tenantId: string, orgId: string) => Promise<void>;
  events?: Events;
}) {
  const { sql, clock, hasher, sessions, audit, events } = deps;

  /** The erasure itself, in one transaction: nothing is deleted unless everything is (and the sessions ended). */
  async function erase(tenantId: string, userId: string): Promise<DeletionResult | null> {
    const done = await sql.tx(tenantId, async (tx) => {
      // Orgs first (the lock order of membership changes: org, then rows), so a concurrent demotion of the
      // other owner and this deletion cannot both pass the last-owner check.
      for (const org of await accountDeletionStore.ownedOrgs(tx, userId)) {
        await orgStore.lock(tx, org.id);
        if ((await memberStore.countActiveOwnersBesides(tx, org.id, userId)) === 0) {
          throw new AppError('conflict', `The account is the last owner of the org "${org.name}" (${org.id}): make another member owner, or delete the org, first.`, { orgId: org.id, orgName: org.name });
        }
      }
      const user = await accountDeletionStore.lockLiveUser(tx, userId);
      if (!user) return null;
      const now = clock.now();
      const orgsLeft = await accountDeletionStore.removeMemberships(tx, userId);
      const keys = await apiKeyStore.revokeAllOf(tx, userId, now);
      // Every address the account is known by (its own, its federated identities'), read before they go.
      const addresses = await accountDeletionStore.addresses(tx, userId, user.email);
      const formerLookups = await accountDeletionStore.formerAddressLookups(tx, userId);
      await accountDeletionStore.eraseCredentials(tx, userId, user.email);
      await userStore.eraseToTombstone(tx, userId, now);
      // The audit rows' personal fields, in this transaction (needs the tombstone above): the chain still verifies.
      await audit.eraseUserIn(tx, tenantId, userId, addresses, formerLookups);
      // Last, inside the transaction: if the session store is unreachable the deletion rolls back (503).
      await events?.emit(tx, tenantId, 'user.deleted', { userId });
      const sessionsEnded = await sessions.endAllIn(tx, tenantId, userId);
      return { userId, tenantId, sessionsEnded, apiKeysRevoked: keys.length, orgsLeft };
    });
    if (!done) return null;
    await deps.invalidateKeys(userId);
    for (const orgId of done.orgsLeft) await deps.invalidateOrg(tenantId, orgId);
    return { ...done, orgsLeft: done.orgsLeft.length };
  }

  // Written after the erasure committed, so a self-deletion's row keeps no IP or user agent of the user (only the
  // request id); an operator's deletion keeps the operator's.
  const record = (r: DeletionResult, actor: { type: string; id: string | null }, by: string, ctx: AuditContext) =>
    audit.record({ tenantId: r.tenantId, actor, target: r.userId, action: 'user.delete', outcome: 'success', ...ctx,
      ...(by === 'self' ? { ip: null, userAgent: null } : {}),
      metadata: { by, sessionsEnded: r.sessionsEnded, apiKeysRevoked: r.apiKeysRevoked, orgsLeft: r.orgsLeft } });

  return {
    /**
     * The signed-in user deletes their own account. Accounts with a password must send it (400 when missing,
     * 401 invalid_credentials when wrong); the TOTP gate is on the route.
     */
    async deleteOwn(p: SessionPrincipal, input: { currentPassword?: string }, ctx: AuditContext): Promise<DeletionResult> {
      const user = await sql.tx(p.tenantId, (tx) => userStore.byId(tx, p.userId));
      if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
      if (user.passwordHash) {
        if (input.currentPassword === undefined) {
          throw new AppError('validation_failed', 'Invalid request: currentPassword is required to delete an account with a password.', { details: [{ path: 'body.currentPassword', message: 'is required for an account with a password' }] });
        }
        if (!(await hasher.verify(user.passwordHash, normalizePassword(input.currentPassword)))) {
          await audit.record({ tenantId: p.tenantId, actor: { type: 'user', id: p.userId }, target: p.userId, action: 'user.delete', outcome: 'failure', ...ctx, metadata: { by: 'self', reason: 'wrong_password' } });
          throw new AppError('invalid_credentials', 'The current password is incorrect.');
        }
      }
      const r = await erase(p.tenantId, p.userId);
      if (!r) throw new AppError('invalid_token', 'The account is no longer active.');
      await record(r, { type: 'user', id: p.userId }, 'self', ctx);
      return r;
    },

    /** An operator deletes a user found by id in any tenant; null when unknown or already deleted. */
    async deleteByAdmin(admin: AdminPrincipal, userId: string, ctx: AuditContext): Promise<DeletionResult | null> {
      const found = await sql.tx(ALL_TENANTS, (tx) => userStore.byId(tx, userId));
      if (!found) return null;
      const r = await erase(found.tenantId, userId);
      if (!r) return null;
      await record(r, actorOf(admin), 'admin', ctx);
      return r;
    },

    /** Whether the user is a tombstone (the admin plane refuses to re-enable or re-address one). */
    isDeleted: (tenantId: string, userId: string): Promise<boolean> => sql.tx(tenantId, (tx) => accountDeletionStore.isDeleted(tx, userId)),
  };
}
