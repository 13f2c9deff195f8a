import type { Tx } from '../../db/sql.js';

export interface AdminKeyRow {
  id: string;
  name: string;
  prefix: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** Admin keys (a platform table: no tenant, no RLS). */
export const adminKeyStore = {
  async insert(tx: Tx, k: { name: string; keyHash: Buffer; prefix: string; expiresAt: Date }): Promise<AdminKeyRow> {
    const { rows } = await tx.query<AdminKeyRow>(
      'INSERT INTO admin_keys (name, key_hash, prefix, expires_at) VALUES ($1, $2, $3, $4) RETURNING id, name, prefix, created_at, expires_at, revoked_at, last_used_at',
      [k.name, k.keyHash, k.prefix, k.expiresAt]);
    return rows[0]!;
  },
  /** The live key with this hash at `now`, or null (unknown, expired or revoked). */
  async findLive(tx: Tx, keyHash: Buffer, now: Date): Promise<AdminKeyRow | null> {
    const { rows } = await tx.query<AdminKeyRow>(
      `SELECT id, name, prefix, created_at, expires_at, revoked_at, last_used_at FROM admin_keys
        WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2`, [keyHash, now]);
    return rows[0] ?? null;
  },
  async touch(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query(`UPDATE admin_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`, [id, now]);
  },
  async revoke(tx: Tx, id: string, now: Date): Promise<boolean> {
    const r = await tx.query('UPDATE admin_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [id, now]);
    return r.rowCount > 0;
  },
};
