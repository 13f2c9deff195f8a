import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { revokeGrantRows } from './adapter.js';
import { memberStore } from '../orgs/store.js';

/** A remembered consent: one stored grant of an account to a client. */
export interface RememberedGrant {
  grantId: string;
  clientId: string;
  clientName: string | null;
  scopes: string[];
  createdAt: Date;
}

interface GrantRow { id: string; client_id: string; payload: { iat?: number; openid?: { scope?: string }; resources?: Record<string, string> }; client_name: string | null }

/** SQL over the provider's Grant rows for the account page and remembered consent. */
export const grantStore = {
  /** The newest live grant of `accountId` to `clientId`, or null. */
  async latestGrantId(sql: Sql, clock: Clock, tenantId: string, accountId: string, clientId: string): Promise<string | null> {
    const { rows } = await sql.tx(tenantId, (tx) => tx.query<{ id: string }>(
      `SELECT id FROM oidc_artifacts WHERE tenant_id = $1 AND model = 'Grant' AND account_id = $2 AND client_id = $3
         AND (expires_at IS NULL OR expires_at > $4) ORDER BY (payload->>'iat')::bigint DESC LIMIT 1`,
      [tenantId, accountId, clientId, clock.now()]));
    return rows[0]?.id ?? null;
  },

  /** The account's live grants with the client's name, newest first. */
  async listForAccount(sql: Sql, clock: Clock, tenantId: string, accountId: string): Promise<RememberedGrant[]> {
    const { rows } = await sql.tx(tenantId, (tx) => tx.query<GrantRow>(
      `SELECT a.id, a.client_id, a.payload, c.metadata->>'client_name' AS client_name
         FROM oidc_artifacts a LEFT JOIN oidc_clients c ON c.tenant_id = a.tenant_id AND c.client_id = a.client_id
        WHERE a.tenant_id = $1 AND a.model = 'Grant' AND a.account_id = $2 AND (a.expires_at IS NULL OR a.expires_at > $3)
        ORDER BY (a.payload->>'iat')::bigint DESC LIMIT 100`, [tenantId, accountId, clock.now()]));
    return rows.map((r) => {
      const scopes = new Set((r.payload.openid?.scope ?? '').split(' ').filter(Boolean));
      for (const v of Object.values(r.payload.resources ?? {})) for (const x of v.split(' ')) if (x) scopes.add(x);
      return { grantId: r.id, clientId: r.client_id, clientName: r.client_name, scopes: [...scopes], createdAt: new Date((r.payload.iat ?? 0) * 1000) };
    });
  },

  /** Binds a grant to the organization chosen on the consent page (null: none). */
  async setOrg(sql: Sql, tenantId: string, grantId: string, orgId: string | null): Promise<void> {
    await sql.tx(tenantId, (tx) => tx.query(`UPDATE oidc_artifacts SET org_id = $3 WHERE tenant_id = $1 AND model = 'Grant' AND id = $2`, [tenantId, grantId, orgId]));
  },

  /** The organization a grant is bound to, or null. */
  async orgOf(sql: Sql, tenantId: string, grantId: string): Promise<string | null> {
    const { rows } = await sql.tx(tenantId, (tx) => tx.query<{ org_id: string | null }>(
      `SELECT org_id FROM oidc_artifacts WHERE tenant_id = $1 AND model = 'Grant' AND id = $2`, [tenantId, grantId]));
    return rows[0]?.org_id ?? null;
  },

  /** `{org, roles}` for a token of the grant: its organization and the account's current roles there; null when none. */
  async orgClaims(sql: Sql, tenantId: string, grantId: string, accountId: string): Promise<{ org: string; roles: string[] } | null> {
    return sql.tx(tenantId, async (tx) => {
      const { rows } = await tx.query<{ org_id: string | null }>(
        `SELECT org_id FROM oidc_artifacts WHERE tenant_id = $1 AND model = 'Grant' AND id = $2`, [tenantId, grantId]);
      const orgId = rows[0]?.org_id;
      if (!orgId) return null;
      const m = await memberStore.get(tx, orgId, accountId);
      return m && !m.userDisabled ? { org: orgId, roles: m.roles } : null;
    });
  },

  /**
   * Revokes one grant of the account: the grant and every code and token issued under it. Returns the
   * client id, or null when the account holds no such grant (another account's grant id is "not found").
   */
  async revokeForAccount(sql: Sql, tenantId: string, accountId: string, grantId: string): Promise<string | null> {
    return sql.tx(tenantId, async (tx) => {
      const { rows } = await tx.query<{ client_id: string }>(
        `SELECT client_id FROM oidc_artifacts WHERE tenant_id = $1 AND model = 'Grant' AND id = $2 AND account_id = $3 FOR UPDATE`,
        [tenantId, grantId, accountId]);
      if (!rows[0]) return null;
      await revokeGrantRows(tx, tenantId, grantId);
      return rows[0].client_id;
    });
  },
};
