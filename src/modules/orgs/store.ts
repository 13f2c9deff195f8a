import type { Tx } from '../../db/sql.js';

export interface Org {
  id: string;
  tenantId: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface Member {
  orgId: string;
  userId: string;
  email: string | null;
  name: string | null;
  roles: string[];
  attributes: Record<string, unknown>;
  joinedAt: Date;
  updatedAt: Date;
  /** the user account is disabled: decisions treat them as no member */
  userDisabled: boolean;
}

interface OrgRow { id: string; tenant_id: string; name: string; created_at: Date; updated_at: Date }
interface MemberRow {
  org_id: string; user_id: string; email: string | null; name: string | null; roles: string[];
  attributes: Record<string, unknown> | string; created_at: Date; updated_at: Date; disabled: boolean;
}

const toOrg = (r: OrgRow): Org => ({ id: r.id, tenantId: r.tenant_id, name: r.name, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) });
const toMember = (r: MemberRow): Member => ({
  orgId: r.org_id, userId: r.user_id, email: r.email, name: r.name, roles: r.roles,
  attributes: typeof r.attributes === 'string' ? JSON.parse(r.attributes) : r.attributes,
  joinedAt: new Date(r.created_at), updatedAt: new Date(r.updated_at), userDisabled: r.disabled,
});

const MEMBER_SELECT = `SELECT m.org_id, m.user_id, u.email, u.name, m.roles, m.attributes, m.created_at, m.updated_at, u.disabled
  FROM org_members m JOIN users u ON u.id = m.user_id`;

/** Orgs of the transaction's tenant (RLS scopes every query). */
export const orgStore = {
  async insert(tx: Tx, o: { tenantId: string; name: string; createdBy: string; now: Date }): Promise<Org> {
    const { rows } = await tx.query<OrgRow>(
      'INSERT INTO orgs (tenant_id, name, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING *',
      [o.tenantId, o.name, o.createdBy, o.now]);
    return toOrg(rows[0]!);
  },
  async byId(tx: Tx, id: string): Promise<Org | null> {
    const { rows } = await tx.query<OrgRow>('SELECT * FROM orgs WHERE id = $1', [id]);
    return rows[0] ? toOrg(rows[0]) : null;
  },
  /**
   * Locks the org row for the rest of the transaction; null if unknown. Every membership change takes this
   * lock first, so two concurrent demotions cannot both pass the last-owner check.
   */
  async lock(tx: Tx, id: string): Promise<Org | null> {
    const { rows } = await tx.query<OrgRow>('SELECT * FROM orgs WHERE id = $1 FOR UPDATE', [id]);
    return rows[0] ? toOrg(rows[0]) : null;
  },
  async update(tx: Tx, id: string, patch: { name: string }, now: Date): Promise<Org | null> {
    const { rows } = await tx.query<OrgRow>('UPDATE orgs SET name = $2, updated_at = $3 WHERE id = $1 RETURNING *', [id, patch.name, now]);
    return rows[0] ? toOrg(rows[0]) : null;
  },
  /** Deletes the org and (by cascade) its members, roles, policies and invites; false if unknown. */
  async delete(tx: Tx, id: string): Promise<boolean> {
    const { rowCount } = await tx.query('DELETE FROM orgs WHERE id = $1', [id]);
    return rowCount > 0;
  },
  /** The orgs a user belongs to, with the user's roles, oldest membership first. */
  async listForUser(tx: Tx, userId: string, limit: number, offset: number): Promise<{ items: (Org & { roles: string[] })[]; total: number }> {
    const { rows } = await tx.query<OrgRow & { roles: string[]; total: number }>(
      `SELECT o.*, m.roles, count(*) OVER () AS total FROM org_members m JOIN orgs o ON o.id = m.org_id
        WHERE m.user_id = $1 ORDER BY m.created_at, o.id LIMIT $2 OFFSET $3`, [userId, limit, offset]);
    return { items: rows.map((r) => ({ ...toOrg(r), roles: r.roles })), total: rows[0] ? Number(rows[0].total) : 0 };
  },
  async countForUser(tx: Tx, userId: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM org_members WHERE user_id = $1', [userId]);
    return Number(rows[0]?.n ?? 0);
  },
};

/** Memberships of the transaction's tenant. */
export const memberStore = {
  async get(tx: Tx, orgId: string, userId: string): Promise<Member | null> {
    const { rows } = await tx.query<MemberRow>(`${MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2`, [orgId, userId]);
    return rows[0] ? toMember(rows[0]) : null;
  },
  /** Null when the user is already a member (the primary key decides between racers). */
  async insert(tx: Tx, m: { tenantId: string; orgId: string; userId: string; roles: string[]; now: Date }): Promise<boolean> {
    const { rowCount } = await tx.query(
      `INSERT INTO org_members (tenant_id, org_id, user_id, roles, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (org_id, user_id) DO NOTHING`, [m.tenantId, m.orgId, m.userId, m.roles, m.now]);
    return rowCount > 0;
  },
  async update(tx: Tx, orgId: string, userId: string, patch: { roles?: string[]; attributes?: Record<string, unknown> }, now: Date): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE org_members SET roles = COALESCE($3, roles), attributes = COALESCE($4::jsonb, attributes), updated_at = $5
        WHERE org_id = $1 AND user_id = $2`,
      [orgId, userId, patch.roles ?? null, patch.attributes === undefined ? null : JSON.stringify(patch.attributes), now]);
    return rowCount > 0;
  },
  async remove(tx: Tx, orgId: string, userId: string): Promise<boolean> {
    const { rowCount } = await tx.query('DELETE FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
    return rowCount > 0;
  },
  /**
   * The user's roles in every org of the tenant, each with the permissions of the org's custom roles among them
   * (custom role names are stored as the role spells them), for isAdminLevel.
   */
  async rolesEverywhere(tx: Tx, userId: string): Promise<{ orgId: string; roles: string[]; custom: Map<string, string[]> }[]> {
    const { rows } = await tx.query<{ org_id: string; roles: string[]; name: string | null; permissions: string[] | null }>(
      `SELECT m.org_id, m.roles, r.name, r.permissions FROM org_members m
         LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.name = ANY(m.roles)
        WHERE m.user_id = $1`, [userId]);
    const byOrg = new Map<string, { orgId: string; roles: string[]; custom: Map<string, string[]> }>();
    for (const r of rows) {
      const entry = byOrg.get(r.org_id) ?? { orgId: r.org_id, roles: r.roles, custom: new Map<string, string[]>() };
      if (r.name !== null) entry.custom.set(r.name.toLowerCase(), r.permissions ?? []);
      byOrg.set(r.org_id, entry);
    }
    return [...byOrg.values()];
  },
  /** Owners of the org other than `userId` whose accounts are not disabled (the last-owner rule counts only these). */
  async countActiveOwnersBesides(tx: Tx, orgId: string, userId: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM org_members m JOIN users u ON u.id = m.user_id
        WHERE m.org_id = $1 AND m.user_id <> $2 AND 'owner' = ANY(m.roles) AND NOT u.disabled`, [orgId, userId]);
    return Number(rows[0]?.n ?? 0);
  },
  async list(tx: Tx, orgId: string, limit: number, offset: number): Promise<{ items: Member[]; total: number }> {
    const { rows } = await tx.query<MemberRow & { total: number }>(
      `${MEMBER_SELECT.replace('SELECT ', 'SELECT count(*) OVER () AS total, ')} WHERE m.org_id = $1 ORDER BY m.created_at, m.user_id LIMIT $2 OFFSET $3`,
      [orgId, limit, offset]);
    return { items: rows.map(toMember), total: rows[0] ? Number(rows[0].total) : 0 };
  },
  /** Renames a custom role in every membership of the org. */
  async renameRole(tx: Tx, orgId: string, from: string, to: string, now: Date): Promise<void> {
    await tx.query(`UPDATE org_members SET roles = array_replace(roles, $2, $3), updated_at = $4 WHERE org_id = $1 AND $2 = ANY(roles)`, [orgId, from, to, now]);
  },
  /** Takes a deleted custom role away from every member; a member left without roles keeps `member`. */
  async dropRole(tx: Tx, orgId: string, name: string, now: Date): Promise<void> {
    await tx.query(
      `UPDATE org_members SET roles = CASE WHEN cardinality(array_remove(roles, $2)) = 0 THEN ARRAY['member']::text[] ELSE array_remove(roles, $2) END,
              updated_at = $3 WHERE org_id = $1 AND $2 = ANY(roles)`, [orgId, name, now]);
  },
};
