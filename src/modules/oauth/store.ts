import type { Tx } from '../../db/sql.js';

export interface FederatedIdentity {
  id: string;
  userId: string;
  issuer: string;
  subject: string;
}

/** An identity as its user sees it. */
export interface LinkedIdentity extends FederatedIdentity {
  email: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface Row { id: string; user_id: string; issuer: string; subject: string }
const toIdentity = (r: Row): FederatedIdentity => ({ id: r.id, userId: r.user_id, issuer: r.issuer, subject: r.subject });

/** OpenID Connect identities of the transaction's tenant (RLS scopes every query). */
export const federatedStore = {
  /** The identity of (issuer, subject) — the only key a provider's user is known by (ASVS 6.8.1). */
  async bySubject(tx: Tx, issuer: string, subject: string): Promise<FederatedIdentity | null> {
    const { rows } = await tx.query<Row>('SELECT * FROM federated_identities WHERE issuer = $1 AND subject = $2', [issuer, subject]);
    return rows[0] ? toIdentity(rows[0]) : null;
  },

  /** Null when (issuer, subject) is already linked in this tenant (the unique index decides races). */
  async insert(tx: Tx, f: { tenantId: string; userId: string; issuer: string; subject: string; email: string | null; now: Date }): Promise<FederatedIdentity | null> {
    const { rows } = await tx.query<Row>(
      `INSERT INTO federated_identities (tenant_id, user_id, issuer, subject, email, created_at, last_used_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (tenant_id, issuer, subject) DO NOTHING RETURNING *`,
      [f.tenantId, f.userId, f.issuer, f.subject, f.email, f.now]);
    return rows[0] ? toIdentity(rows[0]) : null;
  },

  /** A user's linked identities, oldest first: what the account page lists (issuer, email as the provider last said, dates). */
  async ofUser(tx: Tx, userId: string): Promise<LinkedIdentity[]> {
    const { rows } = await tx.query<Row & { email: string | null; created_at: Date | string; last_used_at: Date | string | null }>(
      'SELECT * FROM federated_identities WHERE user_id = $1 ORDER BY created_at, id', [userId]);
    return rows.map((r) => ({ ...toIdentity(r), email: r.email, createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null }));
  },

  async touch(tx: Tx, id: string, email: string | null, now: Date): Promise<void> {
    await tx.query('UPDATE federated_identities SET email = $2, last_used_at = $3 WHERE id = $1', [id, email, now]);
  },
};
