import type { Tx } from '../../db/sql.js';

export type DeviceType = 'singleDevice' | 'multiDevice';

export interface Passkey {
  id: string;
  userId: string;
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
  deviceType: DeviceType;
  backedUp: boolean;
  aaguid: string | null;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface PasskeyRow {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: Uint8Array;
  counter: string | number;
  transports: string[] | null;
  device_type: DeviceType;
  backed_up: boolean;
  aaguid: string | null;
  name: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

const toPasskey = (r: PasskeyRow): Passkey => ({
  id: r.id,
  userId: r.user_id,
  credentialId: r.credential_id,
  // pg gives a Buffer, PGlite a Uint8Array: the library wants a plain Uint8Array.
  publicKey: new Uint8Array(r.public_key),
  counter: Number(r.counter),
  transports: r.transports ?? [],
  deviceType: r.device_type,
  backedUp: r.backed_up,
  aaguid: r.aaguid,
  name: r.name,
  createdAt: new Date(r.created_at),
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
});

/** WebAuthn credentials of the transaction's tenant (RLS scopes every query). */
export const passkeyStore = {
  /** Null when the credential id is already registered in this tenant (the unique index decides). */
  async insert(tx: Tx, p: { tenantId: string; userId: string; credentialId: string; publicKey: Uint8Array; counter: number; transports: string[]; deviceType: DeviceType; backedUp: boolean; aaguid: string | null; name: string | null; now: Date }): Promise<Passkey | null> {
    const { rows } = await tx.query<PasskeyRow>(
      `INSERT INTO passkey_credentials (tenant_id, user_id, credential_id, public_key, counter, transports, device_type, backed_up, aaguid, name, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (tenant_id, credential_id) DO NOTHING RETURNING *`,
      [p.tenantId, p.userId, p.credentialId, Buffer.from(p.publicKey), p.counter, p.transports, p.deviceType, p.backedUp, p.aaguid, p.name, p.now]);
    return rows[0] ? toPasskey(rows[0]) : null;
  },

  async byCredentialId(tx: Tx, credentialId: string): Promise<Passkey | null> {
    const { rows } = await tx.query<PasskeyRow>('SELECT * FROM passkey_credentials WHERE credential_id = $1', [credentialId]);
    return rows[0] ? toPasskey(rows[0]) : null;
  },

  async ofUser(tx: Tx, userId: string): Promise<Passkey[]> {
    const { rows } = await tx.query<PasskeyRow>('SELECT * FROM passkey_credentials WHERE user_id = $1 ORDER BY created_at, id', [userId]);
    return rows.map(toPasskey);
  },

  async pageOfUser(tx: Tx, userId: string, limit: number, offset: number): Promise<{ items: Passkey[]; total: number }> {
    const { rows } = await tx.query<PasskeyRow & { total: number }>(
      'SELECT *, count(*) OVER () AS total FROM passkey_credentials WHERE user_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3', [userId, limit, offset]);
    return { items: rows.map(toPasskey), total: rows[0] ? Number(rows[0].total) : 0 };
  },

  /**
   * Records a use whose signature verified. The guard is the cloned-authenticator rule (WebAuthn
   * §7.2): the new counter must exceed the stored one unless both are 0, checked in the UPDATE
   * itself so that two concurrent uses of one counter value cannot both pass. False = regression.
   */
  async recordUse(tx: Tx, id: string, o: { counter: number; backedUp: boolean; now: Date }): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE passkey_credentials SET counter = $2, backed_up = $3, last_used_at = $4
        WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`, [id, o.counter, o.backedUp, o.now]);
    return rowCount === 1;
  },

  /** Deletes the user's own credential; false if it is not theirs (or unknown). */
  async deleteOwn(tx: Tx, id: string, userId: string): Promise<boolean> {
    const { rowCount } = await tx.query('DELETE FROM passkey_credentials WHERE id = $1 AND user_id = $2', [id, userId]);
    return rowCount === 1;
  },

  async ownedBy(tx: Tx, id: string, userId: string): Promise<boolean> {
    const { rows } = await tx.query('SELECT 1 FROM passkey_credentials WHERE id = $1 AND user_id = $2', [id, userId]);
    return rows.length === 1;
  },
};
