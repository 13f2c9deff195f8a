import type { Tx } from '../../db/sql.js';

export interface Invite {
  id: string;
  orgId: string;
  email: string;
  roles: string[];
  createdAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
}

interface InviteRow { id: string; org_id: string; email: string; roles: string[]; created_at: Date; expires_at: Date; accepted_at: Date | null }

const toInvite = (r: InviteRow): Invite => ({
  id: r.id, orgId: r.org_id, email: r.email, roles: r.roles, createdAt: new Date(r.created_at), expiresAt: new Date(r.expires_at),
  acceptedAt: r.accepted_at ? new Date(r.accepted_at) : null,
});

const COLUMNS = 'id, org_id, email, roles, created_at, expires_at, accepted_at';

/** Org invitations of the transaction's tenant; the token is stored as its SHA-256 only. */
export const inviteStore = {
  async insert(tx: Tx, i: { tenantId: string; orgId: string; email: string; roles: string[]; tokenHash: Buffer; invitedBy: string; now: Date; expiresAt: Date }): Promise<Invite> {
    const { rows } = await tx.query<InviteRow>(
      `INSERT INTO org_invites (tenant_id, org_id, email, roles, token_hash, invited_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [i.tenantId, i.orgId, i.email, i.roles, i.tokenHash, i.invitedBy, i.now, i.expiresAt]);
    return toInvite(rows[0]!);
  },
  /** Deletes the org's still-open invites for this address (a new invite replaces them). */
  async deleteOpenFor(tx: Tx, orgId: string, email: string): Promise<number> {
    const { rowCount } = await tx.query('DELETE FROM org_invites WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL', [orgId, email]);
    return rowCount;
  },
  async list(tx: Tx, orgId: string, limit: number, offset: number): Promise<{ items: Invite[]; total: number }> {
    const { rows } = await tx.query<InviteRow & { total: number }>(
      `SELECT ${COLUMNS}, count(*) OVER () AS total FROM org_invites WHERE org_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
      [orgId, limit, offset]);
    return { items: rows.map(toInvite), total: rows[0] ? Number(rows[0].total) : 0 };
  },
  async delete(tx: Tx, orgId: string, id: string): Promise<Invite | null> {
    const { rows } = await tx.query<InviteRow>(`DELETE FROM org_invites WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`, [orgId, id]);
    return rows[0] ? toInvite(rows[0]) : null;
  },
  /**
   * Marks the invite accepted by `userId` and returns it; null if unknown, used, expired or addressed to another
   * email. One guarded statement: of N concurrent accepts exactly one wins.
   */
  async consume(tx: Tx, tokenHash: Buffer, o: { email: string; userId: string; now: Date }): Promise<Invite | null> {
    const { rows } = await tx.query<InviteRow>(
      `UPDATE org_invites SET accepted_at = $2, accepted_by = $3
        WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2 AND lower(email) = lower($4)
        RETURNING ${COLUMNS}`, [tokenHash, o.now, o.userId, o.email]);
    return rows[0] ? toInvite(rows[0]) : null;
  },
  /** The invite with this token hash whatever its state (to explain why a consume failed); null if unknown. */
  async byTokenHash(tx: Tx, tokenHash: Buffer): Promise<Invite | null> {
    const { rows } = await tx.query<InviteRow>(`SELECT ${COLUMNS} FROM org_invites WHERE token_hash = $1`, [tokenHash]);
    return rows[0] ? toInvite(rows[0]) : null;
  },
  async renameRole(tx: Tx, orgId: string, from: string, to: string): Promise<void> {
    await tx.query(`UPDATE org_invites SET roles = array_replace(roles, $2, $3) WHERE org_id = $1 AND accepted_at IS NULL AND $2 = ANY(roles)`, [orgId, from, to]);
  },
  async dropRole(tx: Tx, orgId: string, name: string): Promise<void> {
    await tx.query(
      `UPDATE org_invites SET roles = CASE WHEN cardinality(array_remove(roles, $2)) = 0 THEN ARRAY['member']::text[] ELSE array_remove(roles, $2) END
        WHERE org_id = $1 AND accepted_at IS NULL AND $2 = ANY(roles)`, [orgId, name]);
  },
};
