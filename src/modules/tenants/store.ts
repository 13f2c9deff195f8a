import type { Tx } from '../../db/sql.js';
import { TenantSettings, type Tenant } from './schemas.js';

interface TenantRow {
  id: string;
  slug: string;
  name: string;
  settings: unknown;
  created_at: Date;
  updated_at: Date;
}

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  slug: r.slug,
  name: r.name,
  // Rows written by older versions get today's defaults for settings added since.
  settings: TenantSettings.parse(r.settings ?? {}),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

/** Tenant rows (a platform table: no RLS). */
export const tenantStore = {
  async byId(tx: Tx, id: string): Promise<Tenant | null> {
    const { rows } = await tx.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id]);
    return rows[0] ? toTenant(rows[0]) : null;
  },
  async bySlug(tx: Tx, slug: string): Promise<Tenant | null> {
    const { rows } = await tx.query<TenantRow>('SELECT * FROM tenants WHERE slug = $1', [slug]);
    return rows[0] ? toTenant(rows[0]) : null;
  },
  /** Null when the slug is taken. */
  async insert(tx: Tx, t: { slug: string; name: string; settings: TenantSettings }): Promise<Tenant | null> {
    const { rows } = await tx.query<TenantRow>(
      `INSERT INTO tenants (slug, name, settings) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING RETURNING *`,
      [t.slug, t.name, JSON.stringify(t.settings)]);
    return rows[0] ? toTenant(rows[0]) : null;
  },
  async update(tx: Tx, id: string, patch: { name?: string; settings?: TenantSettings }, now: Date): Promise<Tenant | null> {
    const { rows } = await tx.query<TenantRow>(
      `UPDATE tenants SET name = coalesce($2, name), settings = coalesce($3::jsonb, settings), updated_at = $4
        WHERE id = $1 RETURNING *`,
      [id, patch.name ?? null, patch.settings ? JSON.stringify(patch.settings) : null, now]);
    return rows[0] ? toTenant(rows[0]) : null;
  },
  async list(tx: Tx, limit: number, offset: number): Promise<{ items: Tenant[]; total: number }> {
    const { rows } = await tx.query<TenantRow & { total: number }>(
      'SELECT *, count(*) OVER () AS total FROM tenants ORDER BY created_at, slug LIMIT $1 OFFSET $2', [limit, offset]);
    return { items: rows.map(toTenant), total: rows[0] ? Number(rows[0].total) : 0 };
  },
};
