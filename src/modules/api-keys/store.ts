import type { Tx } from '../../db/sql.js';

export interface ApiKey {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  prefix: string;
  scopes: string[];
  orgId: string | null;
  isDefault: boolean;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  user_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  org_id: string | null;
  is_default: boolean;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}

/** What validation needs about a presented key (one row from `ap_api_key_by_hash`). */
export interface KeyCheck {
  id: string;
  tenantId: string;
  userId: string;
  scopes: string[];
  orgId: string | null;
  expiresAt: Date | null;
  revoked: boolean;
  userDisabled: boolean;
}

const COLUMNS = 'id, tenant_id, user_id, name, prefix, scopes, org_id, is_default, created_at, expires_at, last_used_at';
const date = (d: Date | null) => (d ? new Date(d) : null);

const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  tenantId: r.tenant_id,
  userId: r.user_id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes,
  orgId: r.org_id,
  isDefault: r.is_default,
  createdAt: new Date(r.created_at),
  expiresAt: date(r.expires_at),
  lastUsedAt: date(r.last_used_at),
});

/** API keys of the transaction's tenant (RLS scopes every query but `findByHash`). */
export const apiKeyStore = {
  /**
   * Serializes key changes of one user until the transaction ends (the live-key count, the one
   * default key), so two racing requests cannot both pass a check and then both write.
   */
  async lockUser(tx: Tx, userId: string): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('api_keys:' || $1::text))`, [userId]);
  },

  /** Inserts the key and its hash lookup row; the hash is the only trace of the secret. */
  async insert(tx: Tx, k: {
    tenantId: string; userId: string; name: string; hash: Buffer; prefix: string; scopes: string[];
    orgId: string | null; isDefault: boolean; now: Date; expiresAt: Date | null;
  }): Promise<ApiKey> {
    const { rows } = await tx.query<ApiKeyRow>(
      `INSERT INTO api_keys (tenant_id, user_id, name, prefix, scopes, org_id, is_default, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
      [k.tenantId, k.userId, k.name, k.prefix, k.scopes, k.orgId, k.isDefault, k.now, k.expiresAt]);
    const key = toApiKey(rows[0]!);
    await tx.query('INSERT INTO api_key_lookup (key_hash, tenant_id, key_id) VALUES ($1, $2, $3)', [k.hash, k.tenantId, key.id]);
    return key;
  },

  /** The user's keys that are not revoked (expired ones included, so they can be seen and deleted), oldest first. */
  async listLive(tx: Tx, userId: string): Promise<ApiKey[]> {
    const { rows } = await tx.query<ApiKeyRow>(
      `SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`, [userId]);
    return rows.map(toApiKey);
  },

  async countLive(tx: Tx, userId: string): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
    return rows[0]!.n;
  },

  /** The user's live key `id`, or null (unknown, another user's, or revoked). */
  async liveById(tx: Tx, userId: string, id: string): Promise<ApiKey | null> {
    const { rows } = await tx.query<ApiKeyRow>(
      `SELECT ${COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, [id, userId]);
    return rows[0] ? toApiKey(rows[0]) : null;
  },

  /** The user's live default key, or null. */
  async defaultOf(tx: Tx, userId: string): Promise<ApiKey | null> {
    const { rows } = await tx.query<ApiKeyRow>(
      `SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1 AND is_default AND revoked_at IS NULL`, [userId]);
    return rows[0] ? toApiKey(rows[0]) : null;
  },

  /**
   * Revokes one live key of the user and drops its lookup row, so it stops validating at once; returns
   * it, or null when it is unknown, another user's or already revoked (one racer wins).
   */
  async revoke(tx: Tx, userId: string, id: string, now: Date): Promise<ApiKey | null> {
    const { rows } = await tx.query<ApiKeyRow>(
      `UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
      [id, userId, now]);
    if (!rows[0]) return null;
    await tx.query('DELETE FROM api_key_lookup WHERE key_id = $1', [id]);
    return toApiKey(rows[0]);
  },

  /**
   * Revokes every live key of the user and drops their lookup rows (disabling the user): none of them validates
   * again, whatever later happens to the account. Returns the ids revoked.
   */
  async revokeAllOf(tx: Tx, userId: string, now: Date): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>(
      'UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id', [userId, now]);
    if (rows.length) await tx.query('DELETE FROM api_key_lookup WHERE key_id = ANY($1::uuid[])', [rows.map((r) => r.id)]);
    return rows.map((r) => r.id);
  },

  /**
   * Finds a presented key by its SHA-256 in one round trip, whatever the transaction's tenant (the
   * function routes the hash to its tenant first); null when no live lookup row has this hash.
   */
  async findByHash(tx: Tx, hash: Buffer): Promise<KeyCheck | null> {
    const { rows } = await tx.query<{
      id: string; tenant_id: string; user_id: string; scopes: string[]; org_id: string | null;
      expires_at: Date | null; revoked_at: Date | null; user_disabled: boolean;
    }>('SELECT * FROM ap_api_key_by_hash($1)', [hash]);
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id, tenantId: r.tenant_id, userId: r.user_id, scopes: r.scopes, orgId: r.org_id,
      expiresAt: date(r.expires_at), revoked: r.revoked_at !== null, userDisabled: r.user_disabled,
    };
  },

  /** Records a use; a no-op when the last recorded use is less than a minute old. */
  async touch(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query(
      `UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute')`,
      [id, now]);
  },
};
