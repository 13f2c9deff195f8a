import type { Tx } from '../../db/sql.js';

/**
 * What deleting an account removes, table by table (RLS scopes every query to the transaction's tenant).
 * The users row itself becomes a tombstone through `userStore.eraseToTombstone`.
 */
export const accountDeletionStore = {
  /** The user row, locked for the rest of the transaction; null if unknown or already deleted. */
  async lockLiveUser(tx: Tx, userId: string): Promise<{ email: string | null; passwordHash: string | null } | null> {
    const { rows } = await tx.query<{ email: string | null; password_hash: string | null; deleted_at: Date | null }>(
      'SELECT email, password_hash, deleted_at FROM users WHERE id = $1 FOR UPDATE', [userId]);
    const r = rows[0];
    return r && !r.deleted_at ? { email: r.email, passwordHash: r.password_hash } : null;
  },

  /** The addresses the user is known by: the account's own and those of its federated identities (distinct). */
  async addresses(tx: Tx, userId: string, email: string | null): Promise<string[]> {
    const { rows } = await tx.query<{ email: string }>('SELECT DISTINCT email FROM federated_identities WHERE user_id = $1 AND email IS NOT NULL', [userId]);
    return [...new Set([...(email ? [email] : []), ...rows.map((r) => r.email)])];
  },

  /** The keyed lookups of addresses the account had before an email change (users.former_address_lookups). */
  async formerAddressLookups(tx: Tx, userId: string): Promise<string[]> {
    const { rows } = await tx.query<{ lookups: string[] }>('SELECT former_address_lookups AS lookups FROM users WHERE id = $1', [userId]);
    return rows[0]?.lookups ?? [];
  },

  /** Whether the user was deleted (a tombstone); false for unknown users. */
  async isDeleted(tx: Tx, userId: string): Promise<boolean> {
    const { rows } = await tx.query<{ deleted: boolean }>('SELECT deleted_at IS NOT NULL AS deleted FROM users WHERE id = $1', [userId]);
    return rows[0]?.deleted ?? false;
  },

  /** The orgs where the user holds the `owner` role, oldest membership first. */
  async ownedOrgs(tx: Tx, userId: string): Promise<{ id: string; name: string }[]> {
    const { rows } = await tx.query<{ id: string; name: string }>(
      `SELECT o.id, o.name FROM org_members m JOIN orgs o ON o.id = m.org_id
        WHERE m.user_id = $1 AND 'owner' = ANY(m.roles) ORDER BY m.created_at, o.id`, [userId]);
    return rows;
  },

  /** Removes every membership of the user; returns the orgs left. */
  async removeMemberships(tx: Tx, userId: string): Promise<string[]> {
    const { rows } = await tx.query<{ org_id: string }>('DELETE FROM org_members WHERE user_id = $1 RETURNING org_id', [userId]);
    return rows.map((r) => r.org_id);
  },

  /**
   * Erases every personal datum and credential the user has outside the users row: TOTP and recovery codes,
   * passkeys, the wallet and its sign-in challenges, federated identities, pending emailed tokens, invites
   * to the address, and the names of the (already revoked) API keys, which users choose freely.
   */
  async eraseCredentials(tx: Tx, userId: string, email: string | null): Promise<void> {
    const { rows } = await tx.query<{ public_key: string }>('DELETE FROM wallet_identities WHERE user_id = $1 RETURNING public_key', [userId]);
    await tx.query('DELETE FROM solana_nonces WHERE user_id = $1 OR public_key = ANY($2::text[])', [userId, rows.map((r) => r.public_key)]);
    await tx.query('DELETE FROM user_mfa WHERE user_id = $1', [userId]);
    await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
    await tx.query('DELETE FROM passkey_credentials WHERE user_id = $1', [userId]);
    await tx.query('DELETE FROM federated_identities WHERE user_id = $1', [userId]);
    await tx.query('DELETE FROM one_time_tokens WHERE user_id = $1 OR ($2::text IS NOT NULL AND lower(email) = lower($2::text))', [userId, email]);
    if (email) await tx.query('DELETE FROM org_invites WHERE lower(email) = lower($1)', [email]);
    await tx.query(`UPDATE api_keys SET name = 'deleted' WHERE user_id = $1`, [userId]);
  },
};
