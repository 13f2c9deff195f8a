import type { Tx } from '../../db/sql.js';

/**
 * Strips every sign-in factor from an account whose address was never verified, at the moment its
 * real owner proves the address (magic link, password reset). Whoever registered the address first
 * without proving it may have attached a password, TOTP, passkeys, a wallet, a federated identity or
 * API keys; leaving any of them would let that party back into the account the owner now claims
 * (pre-account-takeover). Returns the number of factors removed. Sessions are ended by the caller.
 *
 * This reaches into the credential tables of several modules on purpose: it is the one rule that
 * decides what "claiming an account" means, and it must run in the same transaction that verifies
 * the address.
 */
export async function stripUnverifiedAccount(tx: Tx, userId: string, now: Date): Promise<number> {
  const { rows } = await tx.query<{ email_verified: boolean }>('SELECT email_verified FROM users WHERE id = $1 FOR UPDATE', [userId]);
  if (!rows[0] || rows[0].email_verified) return 0;
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
