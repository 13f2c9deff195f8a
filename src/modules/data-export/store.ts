import type { Tx } from '../../db/sql.js';

export interface FederatedRow { issuer: string; subject: string; email: string | null; created_at: Date; last_used_at: Date | null }
export interface WalletRow { public_key: string; created_at: Date; last_used_at: Date | null }
export interface UserAuditRow {
  id: string; occurred_at: Date; actor_type: string; actor_id: string | null; action: string; target: string | null;
  outcome: string; ip: string | null; user_agent: string | null; request_id: string | null; metadata: unknown;
}

/** At most this many of the user's own audit events go into one export (newest first). */
export const EXPORT_AUDIT_LIMIT = 1000;

/** Read-only queries for a user's data export (RLS scopes every one to the transaction's tenant). */
export const dataExportStore = {
  async federatedIdentities(tx: Tx, userId: string): Promise<FederatedRow[]> {
    const { rows } = await tx.query<FederatedRow>(
      'SELECT issuer, subject, email, created_at, last_used_at FROM federated_identities WHERE user_id = $1 ORDER BY created_at', [userId]);
    return rows;
  },
  async wallets(tx: Tx, userId: string): Promise<WalletRow[]> {
    const { rows } = await tx.query<WalletRow>('SELECT public_key, created_at, last_used_at FROM wallet_identities WHERE user_id = $1 ORDER BY created_at', [userId]);
    return rows;
  },
  /** The audit events the user did or that were done to the user, newest first (never the chain hashes). */
  async auditEvents(tx: Tx, userId: string, limit: number): Promise<UserAuditRow[]> {
    const { rows } = await tx.query<UserAuditRow>(
      `SELECT id, occurred_at, actor_type, actor_id, action, target, outcome, ip, user_agent, request_id, metadata
         FROM audit_events WHERE actor_id = $1 OR target = $1 ORDER BY seq DESC LIMIT $2`, [userId, limit]);
    return rows;
  },
};
