import type { Tx } from '../../db/sql.js';

/**
 * How many ways the user can still sign in: a password, a verified email (magic link), a wallet,
 * passkeys and federated identities. Locks the user's row (FOR UPDATE) so that two concurrent
 * removals of different methods cannot both see "one left" and leave the account with none.
 * Null when the user does not exist.
 */
export async function lockAndCountSignInMethods(tx: Tx, userId: string): Promise<number | null> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT (u.password_hash IS NOT NULL)::int
          + (u.email IS NOT NULL AND u.email_verified)::int
          + (SELECT count(*) FROM wallet_identities w WHERE w.user_id = u.id)::int
          + (SELECT count(*) FROM passkey_credentials p WHERE p.user_id = u.id)::int
          + (SELECT count(*) FROM federated_identities f WHERE f.user_id = u.id)::int AS n
       FROM users u WHERE u.id = $1 FOR UPDATE`, [userId]);
  return rows[0] ? Number(rows[0].n) : null;
}
