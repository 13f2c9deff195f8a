import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore, type User } from '../users/store.js';
import { federatedStore } from './store.js';
import type { Events } from '../webhooks/events.js';

/** What the provider told us about the user, after the ID token verified. */
export interface ProviderIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

export type Resolution =
  | { kind: 'user'; user: User; isNewUser: boolean; linked: boolean }
  | { kind: 'conflict'; reason: 'provider_unverified' | 'local_unverified'; userId: string };

/** Rolls back a transaction that lost a creation race; the caller retries once and finds the winner. */
class LostRace extends Error {}

/**
 * Finds or creates the user of a provider identity (SECURITY OA-05):
 * - a known (issuer, subject) is that user, whatever email the provider now reports;
 * - otherwise an existing user with the same email is linked only when the provider says the email
 *   is verified AND the local account verified it too — an unverified local row may be an attacker's
 *   pre-registration (better-auth PR #9578), so it is never taken over implicitly;
 * - otherwise a new user is created (email marked verified only if the provider says so).
 */
export async function resolveIdentity(deps: { sql: Sql; clock: Clock; events?: Events }, tenant: Tenant, id: ProviderIdentity): Promise<Resolution> {
  const attempt = () => deps.sql.tx(tenant.id, async (tx): Promise<Resolution> => {
    const now = deps.clock.now();
    const known = await federatedStore.bySubject(tx, id.issuer, id.subject);
    if (known) {
      const user = await userStore.byId(tx, known.userId);
      if (!user) throw new AppError('invalid_credentials', 'The account of this identity no longer exists.');
      await federatedStore.touch(tx, known.id, id.email, now);
      return { kind: 'user', user: publicUser(user), isNewUser: false, linked: false };
    }
    const link = async (userId: string) => {
      if (!(await federatedStore.insert(tx, { tenantId: tenant.id, userId, issuer: id.issuer, subject: id.subject, email: id.email, now }))) throw new LostRace();
    };
    if (id.email) {
      const existing = await userStore.byEmail(tx, id.email);
      if (existing) {
        if (!id.emailVerified) return { kind: 'conflict', reason: 'provider_unverified', userId: existing.id };
        if (!existing.emailVerified) return { kind: 'conflict', reason: 'local_unverified', userId: existing.id };
        await link(existing.id);
        return { kind: 'user', user: publicUser(existing), isNewUser: false, linked: true };
      }
    }
    const created = await userStore.insert(tx, { tenantId: tenant.id, email: id.email, name: id.name, emailVerified: !!id.email && id.emailVerified, now });
    // Null: someone registered this email meanwhile; the retry takes the "existing user" branch.
    if (!created) throw new LostRace();
    await link(created.id);
    await deps.events?.emit(tx, tenant.id, 'user.created', { userId: created.id, email: created.email, method: 'oauth' });
    return { kind: 'user', user: publicUser(created), isNewUser: true, linked: false };
  });
  try {
    return await attempt();
  } catch (err) {
    if (!(err instanceof LostRace)) throw err;
    return attempt();
  }
}

export const conflictMessage = (reason: 'provider_unverified' | 'local_unverified'): string => reason === 'provider_unverified'
  ? 'An account with this email already exists, and the provider does not say the email is verified, so the two are not linked. Sign in with your existing method instead.'
  : 'An account with this email already exists but its email address is not verified, so the provider identity is not linked to it. Verify the email (or reset the password) of that account first, then sign in with the provider again.';
