import type { Tx } from '../../db/sql.js';

/** A user's TOTP factor: pending (enabledAt null) until confirmed with a first valid code. */
export interface TotpFactor {
  userId: string;
  tenantId: string;
  secretSealed: string;
  enabledAt: Date | null;
  lastStep: number | null;
}

interface FactorRow {
  user_id: string;
  tenant_id: string;
  secret_sealed: string;
  enabled_at: Date | null;
  last_step: string | null;
}

// bigint comes back as a string from pg and PGlite alike when cast: steps stay far below 2^53.
const COLS = 'user_id, tenant_id, secret_sealed, enabled_at, last_step::text AS last_step';

const toFactor = (r: FactorRow): TotpFactor => ({
  userId: r.user_id,
  tenantId: r.tenant_id,
  secretSealed: r.secret_sealed,
  enabledAt: r.enabled_at ? new Date(r.enabled_at) : null,
  lastStep: r.last_step === null ? null : Number(r.last_step),
});

/** TOTP factors and recovery codes of the transaction's tenant (RLS scopes every query). */
export const mfaStore = {
  async factor(tx: Tx, userId: string): Promise<TotpFactor | null> {
    const { rows } = await tx.query<FactorRow>(`SELECT ${COLS} FROM user_mfa WHERE user_id = $1`, [userId]);
    return rows[0] ? toFactor(rows[0]) : null;
  },

  /**
   * Stores a pending secret, replacing an earlier pending one; null when the user's MFA is enabled —
   * the enabled secret is never replaced here (SECURITY MFA-07, §D-13), even by a concurrent setup.
   */
  async putPending(tx: Tx, f: { tenantId: string; userId: string; secretSealed: string; now: Date }): Promise<TotpFactor | null> {
    const { rows } = await tx.query<FactorRow>(
      `INSERT INTO user_mfa (user_id, tenant_id, secret_sealed, enabled_at, last_step, created_at, updated_at)
       VALUES ($1, $2, $3, NULL, NULL, $4, $4)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, last_step = NULL,
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
       WHERE user_mfa.enabled_at IS NULL
       RETURNING ${COLS}`, [f.userId, f.tenantId, f.secretSealed, f.now]);
    return rows[0] ? toFactor(rows[0]) : null;
  },

  /**
   * Enables the pending factor whose secret is `secretSealed`, recording `step` as used. Null when it
   * is no longer pending with that secret (a concurrent enable or setup won) or the step is not new.
   */
  async enable(tx: Tx, userId: string, secretSealed: string, step: number, now: Date): Promise<TotpFactor | null> {
    const { rows } = await tx.query<FactorRow>(
      `UPDATE user_mfa SET enabled_at = $4, last_step = $3, updated_at = $4
        WHERE user_id = $1 AND secret_sealed = $2 AND enabled_at IS NULL AND (last_step IS NULL OR last_step < $3)
        RETURNING ${COLS}`, [userId, secretSealed, step, now]);
    return rows[0] ? toFactor(rows[0]) : null;
  },

  /**
   * Records `step` as the last used step of the enabled factor with this secret. True for exactly one
   * of any number of concurrent callers with the same step; false for a step not after the last one.
   */
  async useStep(tx: Tx, userId: string, secretSealed: string, step: number, now: Date): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE user_mfa SET last_step = $3, updated_at = $4
        WHERE user_id = $1 AND secret_sealed = $2 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $3)`,
      [userId, secretSealed, step, now]);
    return rowCount === 1;
  },

  /** Removes the factor and its recovery codes; false if MFA was not enabled. */
  async remove(tx: Tx, userId: string): Promise<boolean> {
    const { rowCount } = await tx.query('DELETE FROM user_mfa WHERE user_id = $1 AND enabled_at IS NOT NULL', [userId]);
    await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
    return rowCount === 1;
  },

  /** Replaces all of the user's recovery codes with these digests. */
  async replaceRecoveryCodes(tx: Tx, tenantId: string, userId: string, digests: Buffer[], now: Date): Promise<void> {
    await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
    for (const d of digests) {
      await tx.query('INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)', [tenantId, userId, d, now]);
    }
  },

  /**
   * Marks the unused code with this digest used, while the user's MFA is enabled. True for exactly
   * one of any number of concurrent callers (`used_at IS NULL` guards the update).
   */
  async useRecoveryCode(tx: Tx, userId: string, digest: Buffer, now: Date): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE mfa_recovery_codes SET used_at = $3
        WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
          AND EXISTS (SELECT 1 FROM user_mfa m WHERE m.user_id = $1 AND m.enabled_at IS NOT NULL)`,
      [userId, digest, now]);
    return rowCount === 1;
  },

  async recoveryCodesRemaining(tx: Tx, userId: string): Promise<number> {
    const { rows } = await tx.query<{ n: string | number }>('SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
    return Number(rows[0]?.n ?? 0);
  },
};
