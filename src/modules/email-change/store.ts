import type { Tx } from '../../db/sql.js';

/**
 * The pending email changes of the transaction's tenant, kept as one-time tokens (the shared
 * `one_time_tokens` table, RLS-scoped): an `email_change` token mailed to the new address (its `email`),
 * and an `email_change_cancel` token mailed to the old one (its `email`). Consuming goes through
 * src/modules/one-time-tokens (one guarded UPDATE).
 */
export const emailChangeStore = {
  /**
   * Stores a new confirmation token (and, when the account has an address, a cancel token) for the user.
   * Earlier confirmation tokens of the user stop working: only the newest requested address can be confirmed.
   * Earlier cancel tokens stay: a later request (perhaps by whoever holds a stolen session) must not take
   * away the owner's way to undo an earlier change.
   */
  async replacePending(tx: Tx, t: {
    tenantId: string; userId: string; now: Date;
    confirm: { tokenHash: Buffer; email: string; expiresAt: Date };
    cancel: { tokenHash: Buffer; email: string; expiresAt: Date } | null;
  }): Promise<void> {
    await tx.query(`DELETE FROM one_time_tokens WHERE purpose = 'email_change' AND user_id = $1`, [t.userId]);
    const insert = `INSERT INTO one_time_tokens (tenant_id, purpose, token_hash, user_id, email, created_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)`;
    await tx.query(insert, [t.tenantId, 'email_change', t.confirm.tokenHash, t.userId, t.confirm.email, t.now, t.confirm.expiresAt]);
    if (t.cancel) await tx.query(insert, [t.tenantId, 'email_change_cancel', t.cancel.tokenHash, t.userId, t.cancel.email, t.now, t.cancel.expiresAt]);
  },

  /** Deletes the user's pending (unconfirmed) changes; returns how many there were. */
  async dropPending(tx: Tx, userId: string): Promise<number> {
    const { rowCount } = await tx.query(`DELETE FROM one_time_tokens WHERE purpose = 'email_change' AND user_id = $1 AND used_at IS NULL`, [userId]);
    return rowCount;
  },

  /** Locks the user row; null if unknown, else whether it is a tombstone (deleted). */
  async lockAnyUser(tx: Tx, userId: string): Promise<{ deleted: boolean } | null> {
    const { rows } = await tx.query<{ deleted_at: Date | null }>('SELECT deleted_at FROM users WHERE id = $1 FOR UPDATE', [userId]);
    return rows[0] ? { deleted: rows[0].deleted_at !== null } : null;
  },

  /**
   * Locks the user row for the rest of the transaction and returns its address; null if the user is unknown,
   * disabled or deleted. Confirm and cancel both take this lock before consuming their token, so they
   * serialize per user (and cannot deadlock on each other's token rows).
   */
  async lockActiveUser(tx: Tx, userId: string): Promise<{ email: string | null } | null> {
    const { rows } = await tx.query<{ email: string | null; disabled: boolean; deleted_at: Date | null }>(
      'SELECT email, disabled, deleted_at FROM users WHERE id = $1 FOR UPDATE', [userId]);
    const r = rows[0];
    return r && !r.disabled && !r.deleted_at ? { email: r.email } : null;
  },
};
