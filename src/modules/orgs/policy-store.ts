import type { Tx } from '../../db/sql.js';
import type { Condition } from '../authz/condition.js';

export interface StoredPolicy {
  id: string;
  orgId: string;
  name: string;
  description: string | null;
  effect: 'allow' | 'deny';
  actions: string[];
  resources: string[] | null;
  condition: Condition | null;
  createdAt: Date;
}

interface PolicyRow {
  id: string; org_id: string; name: string; description: string | null; effect: 'allow' | 'deny'; actions: string[];
  resources: string[] | null; condition: Condition | string | null; created_at: Date;
}

const toPolicy = (r: PolicyRow): StoredPolicy => ({
  id: r.id, orgId: r.org_id, name: r.name, description: r.description, effect: r.effect, actions: r.actions, resources: r.resources,
  condition: typeof r.condition === 'string' ? JSON.parse(r.condition) : r.condition, createdAt: new Date(r.created_at),
});

/** ABAC policies of the transaction's tenant; names are unique per org, case-insensitively. */
export const policyStore = {
  /** Every policy of the org in creation order (the order decisions report the first match in). */
  async all(tx: Tx, orgId: string): Promise<StoredPolicy[]> {
    const { rows } = await tx.query<PolicyRow>('SELECT * FROM org_policies WHERE org_id = $1 ORDER BY seq', [orgId]);
    return rows.map(toPolicy);
  },
  async list(tx: Tx, orgId: string, limit: number, offset: number): Promise<{ items: StoredPolicy[]; total: number }> {
    const { rows } = await tx.query<PolicyRow & { total: number }>(
      'SELECT *, count(*) OVER () AS total FROM org_policies WHERE org_id = $1 ORDER BY seq LIMIT $2 OFFSET $3', [orgId, limit, offset]);
    return { items: rows.map(toPolicy), total: rows[0] ? Number(rows[0].total) : 0 };
  },
  async byId(tx: Tx, orgId: string, id: string): Promise<StoredPolicy | null> {
    const { rows } = await tx.query<PolicyRow>('SELECT * FROM org_policies WHERE org_id = $1 AND id = $2', [orgId, id]);
    return rows[0] ? toPolicy(rows[0]) : null;
  },
  async count(tx: Tx, orgId: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM org_policies WHERE org_id = $1', [orgId]);
    return Number(rows[0]?.n ?? 0);
  },
  /** Null when the name is taken in this org. */
  async insert(tx: Tx, p: Omit<StoredPolicy, 'id' | 'createdAt'> & { tenantId: string; createdBy: string; now: Date }): Promise<StoredPolicy | null> {
    const { rows } = await tx.query<PolicyRow>(
      `INSERT INTO org_policies (tenant_id, org_id, name, description, effect, actions, resources, condition, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) ON CONFLICT (org_id, lower(name)) DO NOTHING RETURNING *`,
      [p.tenantId, p.orgId, p.name, p.description, p.effect, p.actions, p.resources,
        p.condition === null ? null : JSON.stringify(p.condition), p.createdBy, p.now]);
    return rows[0] ? toPolicy(rows[0]) : null;
  },
  async delete(tx: Tx, orgId: string, id: string): Promise<StoredPolicy | null> {
    const { rows } = await tx.query<PolicyRow>('DELETE FROM org_policies WHERE org_id = $1 AND id = $2 RETURNING *', [orgId, id]);
    return rows[0] ? toPolicy(rows[0]) : null;
  },
};
