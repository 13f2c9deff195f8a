import type { Tx } from '../../db/sql.js';
import { announceUserWrite } from '../users/store.js';

export type NoncePurpose = 'signin' | 'link';

export interface SolanaNonce {
  id: string;
  publicKey: string;
  nonce: string;
  message: string;
  purpose: NoncePurpose;
  userId: string | null;
  sessionId: string | null;
  expiresAt: Date;
}

interface NonceRow {
  id: string;
  public_key: string;
  nonce: string;
  message: string;
  purpose: NoncePurpose;
  user_id: string | null;
  session_id: string | null;
  expires_at: Date;
}

const toNonce = (r: NonceRow): SolanaNonce => ({
  id: r.id, publicKey: r.public_key, nonce: r.nonce, message: r.message, purpose: r.purpose,
  userId: r.user_id, sessionId: r.session_id, expiresAt: new Date(r.expires_at),
});

export interface Wallet {
  id: string;
  userId: string;
  publicKey: string;
  createdAt: Date;
}

interface WalletRow { id: string; user_id: string; public_key: string; created_at: Date }
const toWallet = (r: WalletRow): Wallet => ({ id: r.id, userId: r.user_id, publicKey: r.public_key, createdAt: new Date(r.created_at) });

/** How many live challenges one public key may hold at once (older ones are dropped). */
export const MAX_LIVE_CHALLENGES = 5;

/** Solana challenges and wallets of the transaction's tenant (RLS scopes every query). */
export const solanaStore = {
  async insertNonce(tx: Tx, n: { tenantId: string; publicKey: string; nonce: string; message: string; purpose: NoncePurpose; userId: string | null; sessionId: string | null; now: Date; expiresAt: Date }): Promise<void> {
    await tx.query(
      `INSERT INTO solana_nonces (tenant_id, public_key, nonce, message, purpose, user_id, session_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [n.tenantId, n.publicKey, n.nonce, n.message, n.purpose, n.userId, n.sessionId, n.now, n.expiresAt]);
  },

  /**
   * Keeps the table bounded (SECURITY SOL-03 step 5): drops spent and expired challenges of the
   * tenant (a batch per call) and all but the newest few live ones of this public key.
   */
  async prune(tx: Tx, publicKey: string, now: Date): Promise<void> {
    await tx.query(
      `DELETE FROM solana_nonces WHERE id IN (
         SELECT id FROM solana_nonces WHERE expires_at <= $1 OR used_at IS NOT NULL LIMIT 200)`, [now]);
    await tx.query(
      `DELETE FROM solana_nonces WHERE id IN (
         SELECT id FROM solana_nonces WHERE public_key = $1 AND used_at IS NULL
          ORDER BY created_at DESC, id OFFSET $2)`, [publicKey, MAX_LIVE_CHALLENGES - 1]);
  },

  /** Live (unused, unexpired) challenges issued for this key and purpose, newest first. */
  async liveFor(tx: Tx, publicKey: string, purpose: NoncePurpose, now: Date): Promise<SolanaNonce[]> {
    const { rows } = await tx.query<NonceRow>(
      `SELECT * FROM solana_nonces
        WHERE public_key = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
        ORDER BY created_at DESC, id LIMIT $4`, [publicKey, purpose, now, MAX_LIVE_CHALLENGES]);
    return rows.map(toNonce);
  },

  /** Marks the challenge used; false if it was used or expired meanwhile. One racer wins. */
  async consume(tx: Tx, id: string, now: Date): Promise<boolean> {
    const { rowCount } = await tx.query(
      'UPDATE solana_nonces SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2', [id, now]);
    return rowCount === 1;
  },

  async walletByKey(tx: Tx, publicKey: string): Promise<Wallet | null> {
    const { rows } = await tx.query<WalletRow>('SELECT * FROM wallet_identities WHERE public_key = $1', [publicKey]);
    return rows[0] ? toWallet(rows[0]) : null;
  },

  async walletOfUser(tx: Tx, userId: string): Promise<Wallet | null> {
    const { rows } = await tx.query<WalletRow>('SELECT * FROM wallet_identities WHERE user_id = $1', [userId]);
    return rows[0] ? toWallet(rows[0]) : null;
  },

  /** Null when the key or the user already has a wallet in this tenant (the unique indexes decide races). */
  async insertWallet(tx: Tx, w: { tenantId: string; userId: string; publicKey: string; now: Date }): Promise<Wallet | null> {
    const { rows } = await tx.query<WalletRow>(
      `INSERT INTO wallet_identities (tenant_id, user_id, public_key, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING *`, [w.tenantId, w.userId, w.publicKey, w.now]);
    // The profile carries the wallet's key (solanaPublicKey): cached profiles of this user are stale now.
    if (rows[0]) announceUserWrite(w.userId);
    return rows[0] ? toWallet(rows[0]) : null;
  },

  async touchWallet(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query('UPDATE wallet_identities SET last_used_at = $2 WHERE id = $1', [id, now]);
  },

  /** Removes the user's wallet; null if they had none. */
  async deleteWalletOfUser(tx: Tx, userId: string): Promise<Wallet | null> {
    const { rows } = await tx.query<WalletRow>('DELETE FROM wallet_identities WHERE user_id = $1 RETURNING *', [userId]);
    if (rows[0]) announceUserWrite(userId);
    return rows[0] ? toWallet(rows[0]) : null;
  },
};
