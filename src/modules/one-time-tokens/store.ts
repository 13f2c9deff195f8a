import type { Tx } from '../../db/sql.js';

/** What a one-time token is for; each purpose has its own lifetime and route. */
export type TokenPurpose = 'email_verification' | 'password_reset' | 'magic_link' | 'email_change' | 'email_change_cancel';

export interface OneTimeToken {
  id: string;
  tenantId: string;
  purpose: TokenPurpose;
  userId: string | null;
  email: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

interface Row {
  id: string;
  tenant_id: string;
  purpose: TokenPurpose;
  user_id: string | null;
  email: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

const toToken = (r: Row): OneTimeToken => ({
  id: r.id,
  tenantId: r.tenant_id,
  purpose: r.purpose,
  userId: r.user_id,
  email: r.email,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  usedAt: r.used_at ? new Date(r.used_at) : null,
});

const COLUMNS = 'id, tenant_id, purpose, user_id, email, created_at, expires_at, used_at';

/** One-time tokens of the transaction's tenant (RLS scopes every query: a token of another tenant is unknown). */
export const oneTimeTokenStore = {
  /**
   * Stores a new token for `email` and deletes every earlier token of the same purpose for that
   * address, used or not: only the newest link works (SECURITY PWD-07 step 5, ML-02 step 6).
   */
  async replace(tx: Tx, t: { tenantId: string; purpose: TokenPurpose; tokenHash: Buffer; userId: string | null; email: string; now: Date; expiresAt: Date }): Promise<void> {
    await tx.query('DELETE FROM one_time_tokens WHERE purpose = $1 AND lower(email) = lower($2)', [t.purpose, t.email]);
    await tx.query(
      `INSERT INTO one_time_tokens (tenant_id, purpose, token_hash, user_id, email, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [t.tenantId, t.purpose, t.tokenHash, t.userId, t.email, t.now, t.expiresAt]);
  },

  /**
   * The same round trip as `replace` for an address that gets no token, so that known and unknown
   * addresses cost the same work (SECURITY PWD-05). Deletes nothing that could still be used by
   * anyone else: there is no token for such an address, or an earlier one we would retire anyway.
   */
  async retire(tx: Tx, purpose: TokenPurpose, email: string): Promise<void> {
    await tx.query('DELETE FROM one_time_tokens WHERE purpose = $1 AND lower(email) = lower($2)', [purpose, email]);
  },

  /**
   * Marks the token used and returns it; null if unknown, of another purpose, expired or already
   * used. One guarded statement: of two concurrent callers exactly one gets the row.
   */
  async consume(tx: Tx, purpose: TokenPurpose, tokenHash: Buffer, now: Date): Promise<OneTimeToken | null> {
    const { rows } = await tx.query<Row>(
      `UPDATE one_time_tokens SET used_at = $3
        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
        RETURNING ${COLUMNS}`, [tokenHash, purpose, now]);
    return rows[0] ? toToken(rows[0]) : null;
  },

  /** The token whatever its state (to tell the caller why it failed, or to look before consuming); null if unknown. */
  async find(tx: Tx, purpose: TokenPurpose, tokenHash: Buffer): Promise<OneTimeToken | null> {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2`, [tokenHash, purpose]);
    return rows[0] ? toToken(rows[0]) : null;
  },

  /** Deletes the tenant's tokens that expired before `before`; returns how many. */
  async sweep(tx: Tx, before: Date): Promise<number> {
    const { rowCount } = await tx.query('DELETE FROM one_time_tokens WHERE expires_at < $1', [before]);
    return rowCount;
  },
};
