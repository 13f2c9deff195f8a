import type { Tx } from '../../db/sql.js';
import { CHAIN_VERSION, GENESIS_HASH, sealedRowHash, sealPersonal, type ChainedFields, type ChainKeys, type ChainVersion, type PersonalDigest } from './chain.js';
import type { PersonalField } from './personal.js';

export interface AuditRow {
  seq: number;
  id: string;
  tenant_id: string | null;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  metadata: unknown;
  prev_hash: string;
  hash: string;
  /** 1: legacy unkeyed SHA-256 (rows from before migration 0010); 2: HMAC under AUTH_SECRET; 3: HMAC over digests of personal fields (0015) */
  chain_version: ChainVersion;
  /** version 3: the personal fields and their keyed digests (null before) */
  personal: PersonalDigest[] | null;
  /** version 3: keyed digests of the addresses the row mentions, until erased (null before) */
  erasure_keys: string[] | null;
  /** when the row's personal fields were erased (account deletion); null otherwise */
  erased_at: Date | null;
}

export interface AuditFilter {
  tenantId?: string;
  actorId?: string;
  action?: string;
  from?: Date;
  to?: Date;
  /** rows with seq below this (cursor pagination, newest first) */
  beforeSeq?: number;
  limit: number;
}

export const fieldsOf = (r: AuditRow): ChainedFields => ({
  tenantId: r.tenant_id,
  occurredAt: new Date(r.occurred_at),
  actorType: r.actor_type,
  actorId: r.actor_id,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
  ip: r.ip,
  userAgent: r.user_agent,
  requestId: r.request_id,
  metadata: r.metadata,
});

export const auditStore = {
  /**
   * Takes the chain's transaction-scoped advisory lock: writers of one chain (a tenant, or the platform)
   * are serialized by it, so two concurrent events never chain to the same parent, and a reader holding it
   * sees no append half done (row inserted, head not yet moved).
   */
  async lockChain(tx: Tx, tenantId: string | null): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('audit:' || coalesce($1::text, 'platform')))`, [tenantId]);
  },

  /**
   * Appends one row (chain version 3: keyed, personal fields sealed by their digests) chained to the last row
   * of its tenant; call under lockChain. `personal` are the row's personal fields (personalFields(f)).
   * Returns the new row's seq and hash (the chain's new head).
   */
  async append(tx: Tx, f: ChainedFields, personalOf: PersonalField[], keys: ChainKeys): Promise<{ seq: number; hash: string }> {
    // The seq is taken here, not read back with RETURNING: a platform row (tenant_id NULL) is not visible
    // to the app role under RLS, and RETURNING would need it to be. One round trip, as before.
    const { rows: [last] } = await tx.query<{ hash: string | null; seq: string | number }>(
      `SELECT (SELECT hash FROM audit_events WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY seq DESC LIMIT 1) AS hash,
              nextval('audit_events_seq_seq') AS seq`, [f.tenantId]);
    const prev = last!.hash ?? GENESIS_HASH;
    const seq = Number(last!.seq);
    const { personal, lookups } = sealPersonal(keys, f.tenantId, seq, personalOf);
    const hash = sealedRowHash(keys.row, prev, f, personal);
    if (!hash) throw new Error('a personal field of the audit row has no value'); // personalFields() only lists present ones
    await tx.query(
      `INSERT INTO audit_events (seq, tenant_id, occurred_at, actor_type, actor_id, action, target, outcome, ip, user_agent, request_id, metadata, prev_hash, hash, chain_version, personal, erasure_keys)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
      [seq, f.tenantId, f.occurredAt, f.actorType, f.actorId, f.action, f.target, f.outcome, f.ip, f.userAgent, f.requestId,
        JSON.stringify(f.metadata ?? {}), prev, hash, CHAIN_VERSION, JSON.stringify(personal), lookups]);
    return { seq, hash };
  },

  /**
   * Erases the personal fields of the version-3 rows about a deleted user (actor or target is the user) and of
   * the rows whose erasure_keys meet `lookups` (keyed digests of the user's addresses), through the one
   * narrow path migration 0015 grants the app role (ap_audit_erase: the user must be a tombstone of the
   * transaction's tenant). Returns how many rows were erased.
   */
  async eraseUser(tx: Tx, userId: string, lookups: string[]): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT ap_audit_erase($1::uuid, $2::text[]) AS n', [userId, lookups]);
    return Number(rows[0]?.n ?? 0);
  },

  /** Newest first; `limit + 1` rows are read so the caller can tell whether more exist. */
  async list(tx: Tx, f: AuditFilter): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, v: unknown) => { params.push(v); where.push(clause.replace('?', `$${params.length}`)); };
    if (f.tenantId) add('tenant_id = ?', f.tenantId);
    if (f.actorId) add('actor_id = ?', f.actorId);
    if (f.action) add('action = ?', f.action);
    if (f.from) add('occurred_at >= ?', f.from);
    if (f.to) add('occurred_at < ?', f.to);
    if (f.beforeSeq) add('seq < ?', f.beforeSeq);
    params.push(f.limit + 1);
    const { rows } = await tx.query<AuditRow>(
      `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`, params);
    return rows;
  },

  /** Every row of one chain (a tenant, or the platform when null), oldest first. */
  async chain(tx: Tx, tenantId: string | null): Promise<AuditRow[]> {
    const { rows } = await tx.query<AuditRow>('SELECT * FROM audit_events WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY seq', [tenantId]);
    return rows;
  },

  /**
   * Every chain that exists or should: the platform's, each tenant's (a tenant whose rows were all deleted
   * still has a chain to check against its head) and any tenant id found in the log.
   */
  async chainIds(tx: Tx): Promise<(string | null)[]> {
    const { rows } = await tx.query<{ tenant_id: string | null }>(
      'SELECT DISTINCT tenant_id FROM audit_events UNION SELECT id FROM tenants UNION SELECT NULL::uuid');
    return rows.map((r) => r.tenant_id);
  },
};
