import type { Tx } from '../../db/sql.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SessionService } from '../sessions/service.js';
import { sameAddress } from '../one-time-tokens/mail.js';
import { userStore } from './store.js';

/**
 * Proving an address by an emailed link, and what it does to the account (docs/decisions.md,
 * "Claiming an account by proving its address").
 *
 * Whoever registers an address without proving it — with a password, or through a provider that does
 * not verify the email — may attach a password, TOTP, passkeys, a wallet, a federated identity, API keys
 * and sessions, then get the real owner to prove the address (a "Confirm your email address" mail they
 * requested). Leaving any of those would let the registrant back into the account the owner now holds
 * (pre-account-takeover). So the first proof of an unverified address CLAIMS the account: every factor
 * and credential goes, and the address is marked verified. The one exception: the proof comes with a
 * live session of that same account — the person holds both the account and the mailbox, so the
 * account is theirs already and nothing is removed.
 *
 * The decision and the removal live here and nowhere else; every flow that proves an address calls
 * `prove` in the transaction that consumes its token, then `settle` once that transaction committed.
 */

/** The emailed links that prove an address. `email_change`: not used by the email-change flow, which switches an account its owner already holds (src/modules/email-change). */
export type AddressProofVia = 'email_verification' | 'magic_link' | 'password_reset' | 'email_change';

export interface AddressProof {
  tenantId: string;
  userId: string;
  /** the address the link was mailed to; it must still be the account's address */
  email: string;
  via: AddressProofVia;
  /**
   * The user of the live session (an access token, checked against the session store) that made the
   * request, or null. Only a session counts: an API key is exactly what a registrant leaves behind.
   */
  sessionUserId: string | null;
}

export type ClaimOutcome =
  /** no such user, or the account's address is no longer the one the link was mailed to: nothing done */
  | { kind: 'mismatch' }
  /** the address was verified before: nothing done */
  | { kind: 'already_verified'; userId: string }
  /** verified by the holder of a session of the account: nothing removed */
  | { kind: 'verified'; userId: string }
  /** verified, and everything the unverified registrant attached was removed */
  | { kind: 'claimed'; userId: string; via: AddressProofVia; factorsRemoved: number; sessionsEnded: number };

/**
 * Removes every sign-in factor and credential stored in Postgres for the user: password, TOTP and its
 * recovery codes, passkeys, wallet, federated identities (whatever the provider said: see decisions.md),
 * API keys. Returns how many were removed. Sessions and refresh tokens end in `prove` too (endAllIn).
 */
async function stripFactors(tx: Tx, userId: string, now: Date): Promise<number> {
  let removed = 0;
  const run = async (text: string, params: unknown[]) => { removed += (await tx.query(text, params)).rowCount; };
  await run('UPDATE users SET password_hash = NULL, updated_at = $2 WHERE id = $1 AND password_hash IS NOT NULL', [userId, now]);
  await run('DELETE FROM user_mfa WHERE user_id = $1', [userId]);
  await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
  await run('DELETE FROM passkey_credentials WHERE user_id = $1', [userId]);
  await run('DELETE FROM wallet_identities WHERE user_id = $1', [userId]);
  await run('DELETE FROM federated_identities WHERE user_id = $1', [userId]);
  await run('UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL', [userId, now]);
  return removed;
}

export type AccountClaim = ReturnType<typeof createAccountClaim>;

export function createAccountClaim(deps: {
  sessions: Pick<SessionService, 'endAllIn'>;
  audit: AuditService;
  /** drops the user's API keys from every instance's cache (their rows are revoked in `prove`) */
  onCredentialsStripped?: (userId: string) => Promise<void>;
}) {
  return {
    /**
     * In the transaction that consumes the link's token: locks the user row, then marks the address
     * verified — claiming the account (every factor removed) unless it was verified already or the
     * request carried a live session of this same account. Concurrent proofs serialize on the row lock;
     * the second sees `already_verified`. For an email change, write the new address (unverified) first.
     */
    async prove(tx: Tx, proof: AddressProof, now: Date): Promise<ClaimOutcome> {
      const { rows } = await tx.query<{ email: string | null; email_verified: boolean }>(
        'SELECT email, email_verified FROM users WHERE id = $1 FOR UPDATE', [proof.userId]);
      const row = rows[0];
      if (!row || !sameAddress(row.email, proof.email)) return { kind: 'mismatch' };
      if (row.email_verified) return { kind: 'already_verified', userId: proof.userId };
      if (proof.sessionUserId === proof.userId) {
        await userStore.setEmailVerified(tx, proof.userId, now);
        return { kind: 'verified', userId: proof.userId };
      }
      const factorsRemoved = await stripFactors(tx, proof.userId, now);
      await userStore.setEmailVerified(tx, proof.userId, now);
      // In this same transaction: the claim commits only with every session of the registrant ended
      // (and the user's session epoch moved, so no sign-in that checked a removed factor can start one).
      const sessionsEnded = await deps.sessions.endAllIn(tx, proof.tenantId, proof.userId);
      return { kind: 'claimed', userId: proof.userId, via: proof.via, factorsRemoved, sessionsEnded };
    },

    /**
     * After `prove`'s transaction committed: for a claimed account, drops its API keys from the caches
     * and writes the audit event. Returns the number of sessions `prove` ended (0 when nothing was claimed).
     */
    async settle(tenantId: string, outcome: ClaimOutcome, ctx: AuditContext): Promise<number> {
      if (outcome.kind !== 'claimed') return 0;
      const { sessionsEnded } = outcome;
      await deps.onCredentialsStripped?.(outcome.userId);
      await deps.audit.record({
        tenantId, actor: { type: 'user', id: outcome.userId }, target: outcome.userId, action: 'user.unverified_credentials_cleared',
        outcome: 'success', ...ctx, metadata: { via: outcome.via, sessionsEnded, factorsRemoved: outcome.factorsRemoved },
      });
      return sessionsEnded;
    },
  };
}
