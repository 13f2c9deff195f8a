import type { Tx } from '../../db/sql.js';

export interface CustomRole {
  id: string;
  orgId: string;
  name: string;
  description: string | null;
  permissions: string[];
  createdAt: Date;
  updatedAt: Date;
}

interface RoleRow { id: string; org_id: string; name: string; description: string | null; permissions: string[]; created_at: Date; updated_at: Date }

const toRole = (r: RoleRow): CustomRole => ({
  id: r.id, orgId: r.org_id, name: r.name, description: r.description, permissions: r.permissions,
  createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

/** Custom roles of the transaction's tenant; names are unique per org, case-insensitively. */
export const roleStore = {
  /** Every custom role of the org, oldest first (at most MAX_CUSTOM_ROLES). */
  async list(tx: Tx, orgId: string): Promise<CustomRole[]> {
    const { rows } = await tx.query<RoleRow>('SELECT * FROM org_roles WHERE org_id = $1 ORDER BY created_at, id', [orgId]);
    return rows.map(toRole);
  },
  async byId(tx: Tx, orgId: string, id: string): Promise<CustomRole | null> {
    const { rows } = await tx.query<RoleRow>('SELECT * FROM org_roles WHERE org_id = $1 AND id = $2', [orgId, id]);
    return rows[0] ? toRole(rows[0]) : null;
  },
  async count(tx: Tx, orgId: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM org_roles WHERE org_id = $1', [orgId]);
    return Number(rows[0]?.n ?? 0);
  },
  /** Null when the name is taken in this org (the unique index decides). */
  async insert(tx: Tx, r: { tenantId: string; orgId: string; name: string; description: string | null; permissions: string[]; now: Date }): Promise<CustomRole | null> {
    const { rows } = await tx.query<RoleRow>(
      `INSERT INTO org_roles (tenant_id, org_id, name, description, permissions, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (org_id, lower(name)) DO NOTHING RETURNING *`,
      [r.tenantId, r.orgId, r.name, r.description, r.permissions, r.now]);
    return rows[0] ? toRole(rows[0]) : null;
  },
  /** Null when the new name is taken by another role of the org. */
  async update(tx: Tx, orgId: string, id: string, r: { name: string; description: string | null; permissions: string[] }, now: Date): Promise<CustomRole | null> {
    const { rows } = await tx.query<RoleRow>(
      `UPDATE org_roles SET name = $3, description = $4, permissions = $5, updated_at = $6
        WHERE org_id = $1 AND id = $2
          AND NOT EXISTS (SELECT 1 FROM org_roles o WHERE o.org_id = $1 AND o.id <> $2 AND lower(o.name) = lower($3))
        RETURNING *`, [orgId, id, r.name, r.description, r.permissions, now]);
    return rows[0] ? toRole(rows[0]) : null;
  },
  async delete(tx: Tx, orgId: string, id: string): Promise<boolean> {
    const { rowCount } = await tx.query('DELETE FROM org_roles WHERE org_id = $1 AND id = $2', [orgId, id]);
    return rowCount > 0;
  },
};
