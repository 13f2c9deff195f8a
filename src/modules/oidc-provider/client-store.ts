import type { AdapterPayload } from 'oidc-provider';
import type { Sql, Tx } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { sha256Hex } from '../../lib/crypto.js';

/** The prefix that marks a stored secret digest for `compareClientSecret` (see provider.ts). */
export const SECRET_DIGEST_PREFIX = 'sha256:';

export interface OidcClientRow {
  tenant_id: string;
  client_id: string;
  metadata: ClientMetadata;
  secret_hash: string | null;
  source: 'admin' | 'dynamic';
  created_at: Date;
  updated_at: Date;
}

/** The RFC 7591 metadata we keep (oidc-provider's names). */
export interface ClientMetadata {
  client_name?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: string;
  scope?: string;
  application_type?: 'web' | 'native';
  [k: string]: unknown;
}

/** Metadata oidc-provider may add on registration that we never store (it is derived or secret). */
const NOT_STORED = new Set(['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at', 'registration_access_token', 'registration_client_uri']);

/** SQL over oidc_clients; every function runs in the tenant's RLS scope. */
export const clientStore = {
  /** The client as oidc-provider reads it; the secret is handed over as its digest only. */
  async findForProvider(sql: Sql, tenantId: string, clientId: string): Promise<AdapterPayload | undefined> {
    const row = await sql.tx(tenantId, (tx) => clientStore.get(tx, tenantId, clientId));
    if (!row) return undefined;
    return {
      ...row.metadata,
      client_id: row.client_id,
      client_id_issued_at: Math.floor(new Date(row.created_at).getTime() / 1000),
      ...(row.secret_hash ? { client_secret: `${SECRET_DIGEST_PREFIX}${row.secret_hash}` } : {}),
    } as AdapterPayload;
  },

  /** One client of the tenant, or null. */
  async get(tx: Tx, tenantId: string, clientId: string): Promise<OidcClientRow | null> {
    const { rows } = await tx.query<OidcClientRow>('SELECT * FROM oidc_clients WHERE tenant_id = $1 AND client_id = $2', [tenantId, clientId]);
    return rows[0] ?? null;
  },

  async list(tx: Tx, tenantId: string, limit: number, offset: number): Promise<{ items: OidcClientRow[]; total: number }> {
    const { rows } = await tx.query<OidcClientRow>('SELECT * FROM oidc_clients WHERE tenant_id = $1 ORDER BY created_at, client_id LIMIT $2 OFFSET $3', [tenantId, limit, offset]);
    const { rows: n } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM oidc_clients WHERE tenant_id = $1', [tenantId]);
    return { items: rows, total: n[0]!.n };
  },

  async insert(tx: Tx, r: Omit<OidcClientRow, 'updated_at'>): Promise<OidcClientRow> {
    const { rows } = await tx.query<OidcClientRow>(
      `INSERT INTO oidc_clients (tenant_id, client_id, metadata, secret_hash, source, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
      [r.tenant_id, r.client_id, JSON.stringify(r.metadata), r.secret_hash, r.source, r.created_at]);
    return rows[0]!;
  },

  /** Replaces the metadata (and the secret digest when given); null when there is no such client. */
  async update(tx: Tx, tenantId: string, clientId: string, o: { metadata: ClientMetadata; secretHash?: string | null; now: Date }): Promise<OidcClientRow | null> {
    const { rows } = await tx.query<OidcClientRow>(
      `UPDATE oidc_clients SET metadata = $3, secret_hash = CASE WHEN $4::boolean THEN $5 ELSE secret_hash END, updated_at = $6
        WHERE tenant_id = $1 AND client_id = $2 RETURNING *`,
      [tenantId, clientId, JSON.stringify(o.metadata), o.secretHash !== undefined, o.secretHash ?? null, o.now]);
    return rows[0] ?? null;
  },

  /** Deletes the client and every grant, code and token issued to it; false when there was none. */
  async remove(tx: Tx, tenantId: string, clientId: string): Promise<boolean> {
    const r = await tx.query('DELETE FROM oidc_clients WHERE tenant_id = $1 AND client_id = $2', [tenantId, clientId]);
    await tx.query('DELETE FROM oidc_artifacts WHERE tenant_id = $1 AND client_id = $2', [tenantId, clientId]);
    return r.rowCount === 1;
  },

  /** A dynamically registered client (RFC 7591) as oidc-provider saves it: the secret is kept as SHA-256 only. */
  async upsertDynamic(sql: Sql, clock: Clock, tenantId: string, clientId: string, payload: AdapterPayload): Promise<void> {
    const metadata: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(payload)) if (!NOT_STORED.has(k)) metadata[k] = v;
    const secret = typeof payload.client_secret === 'string' && !payload.client_secret.startsWith(SECRET_DIGEST_PREFIX) ? payload.client_secret : null;
    const now = clock.now();
    await sql.tx(tenantId, (tx) => tx.query(
      `INSERT INTO oidc_clients (tenant_id, client_id, metadata, secret_hash, source, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'dynamic', $5, $5)
       ON CONFLICT (tenant_id, client_id) DO UPDATE SET metadata = EXCLUDED.metadata,
         secret_hash = COALESCE(EXCLUDED.secret_hash, oidc_clients.secret_hash), updated_at = EXCLUDED.updated_at`,
      [tenantId, clientId, JSON.stringify(metadata), secret ? sha256Hex(secret) : null, now]));
  },

  async destroyDynamic(sql: Sql, tenantId: string, clientId: string): Promise<void> {
    await sql.tx(tenantId, (tx) => clientStore.remove(tx, tenantId, clientId));
  },
};
