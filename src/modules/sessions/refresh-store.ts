import type { Tx } from '../../db/sql.js';

export interface RefreshRow {
  id: string;
  tenant_id: string;
  session_id: string;
  user_id: string;
  token_hash: Buffer;
  parent_id: string | null;
  created_at: Date;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
}

/** Refresh-token rows (SHA-256 of the secret only); a session is the family sharing session_id. */
export const refreshStore = {
  async insert(tx: Tx, r: { id: string; tenantId: string; sessionId: string; userId: string; tokenHash: Buffer; parentId: string | null; now: Date; expiresAt: Date }): Promise<void> {
    await tx.query(
      `INSERT INTO refresh_tokens (id, tenant_id, session_id, user_id, token_hash, parent_id, created_at, expires_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [r.id, r.tenantId, r.sessionId, r.userId, r.tokenHash, r.parentId, r.now, r.expiresAt]);
  },
  async byId(tx: Tx, id: string): Promise<RefreshRow | null> {
    const { rows } = await tx.query<RefreshRow>('SELECT * FROM refresh_tokens WHERE id = $1', [id]);
    return rows[0] ?? null;
  },
  /** Marks the token rotated; null when another request rotated (or revoked) it first. One racer wins. */
  async markRotated(tx: Tx, id: string, now: Date): Promise<RefreshRow | null> {
    const { rows } = await tx.query<RefreshRow>(
      'UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL RETURNING *', [id, now]);
    return rows[0] ?? null;
  },
  /** The token that replaced `parent` (its child in the family), or null. */
  async childOf(tx: Tx, parent: RefreshRow): Promise<RefreshRow | null> {
    // Through the (tenant_id, session_id) index: a family is small.
    const { rows } = await tx.query<RefreshRow>(
      'SELECT * FROM refresh_tokens WHERE tenant_id = $1 AND session_id = $2 AND parent_id = $3', [parent.tenant_id, parent.session_id, parent.id]);
    return rows[0] ?? null;
  },
  /** Revokes every token of a session (the family); returns how many were live. Of concurrent callers, one sees > 0. */
  async revokeSession(tx: Tx, sessionId: string, now: Date): Promise<number> {
    const { rowCount } = await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL', [sessionId, now]);
    return rowCount ?? 0;
  },
  /** Revokes every token of a user; returns the affected session ids. */
  async revokeUser(tx: Tx, userId: string, now: Date): Promise<string[]> {
    const { rows } = await tx.query<{ session_id: string }>(
      'UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING session_id', [userId, now]);
    return [...new Set(rows.map((r) => r.session_id))];
  },
  /** Revokes every token of a user but those of one session (the caller's, on a password change). */
  async revokeUserExcept(tx: Tx, userId: string, keepSessionId: string, now: Date): Promise<void> {
    await tx.query('UPDATE refresh_tokens SET revoked_at = $3 WHERE user_id = $1 AND session_id <> $2 AND revoked_at IS NULL', [userId, keepSessionId, now]);
  },
};
