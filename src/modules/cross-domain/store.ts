import type { Tx } from '../../db/sql.js';

/** Used handoff-token JTIs of the transaction's tenant. */
export const nonceStore = {
  /**
   * Records `jti` as used; false when it already was. The primary key decides, so of two concurrent
   * verifications of one token exactly one inserts (the other waits for it, then finds the conflict).
   */
  async use(tx: Tx, n: { tenantId: string; jti: string; now: Date; expiresAt: Date }): Promise<boolean> {
    const { rowCount } = await tx.query(
      `INSERT INTO cross_site_nonces (jti, tenant_id, used_at, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (jti) DO NOTHING`, [n.jti, n.tenantId, n.now, n.expiresAt]);
    return rowCount === 1;
  },

  /** Deletes JTIs whose tokens can no longer pass their expiry check; returns how many. */
  async sweep(tx: Tx, now: Date): Promise<number> {
    const { rowCount } = await tx.query('DELETE FROM cross_site_nonces WHERE expires_at < $1', [now]);
    return rowCount;
  },
};
