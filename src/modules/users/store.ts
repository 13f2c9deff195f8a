import type { Tx } from '../../db/sql.js';

export interface User {
  id: string;
  tenantId: string;
  email: string | null;
  name: string | null;
  emailVerified: boolean;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastLoginAt: Date | null;
  /** set when the account was deleted: the row is then a pseudonymous tombstone (src/modules/account-deletion) */
  deletedAt: Date | null;
  /** The linked Solana wallet's public key (base58), null when none (read with the row, see USER_COLUMNS). */
  solanaPublicKey: string | null;
  /**
   * Incremented by every revocation-by-user (see sessionEpochs); a sign-in starts its session only
   * under the epoch it read together with the credential it checked.
   */
  sessionEpoch: number;
}

export interface UserWithSecret extends User {
  passwordHash: string | null;
}

interface UserRow {
  id: string;
  tenant_id: string;
  email: string | null;
  name: string | null;
  password_hash: string | null;
  email_verified: boolean;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
  session_epoch: number;
  deleted_at: Date | null;
  solana_public_key?: string | null;
}

const toUser = (r: UserRow): UserWithSecret => ({
  id: r.id,
  tenantId: r.tenant_id,
  email: r.email,
  name: r.name,
  emailVerified: r.email_verified,
  disabled: r.disabled,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  lastLoginAt: r.last_login_at ? new Date(r.last_login_at) : null,
  sessionEpoch: Number(r.session_epoch ?? 0),
  deletedAt: r.deleted_at ? new Date(r.deleted_at) : null,
  solanaPublicKey: r.solana_public_key ?? null,
  passwordHash: r.password_hash,
});

type UserWriteListener = (userId: string) => void;
const writeListeners = new Set<UserWriteListener>();

/**
 * Subscribes to every update of a user row made through this store (the profile cache in service.ts
 * drops its entry and tells the other instances). Returns the unsubscribe function.
 */
export function onUserWrite(fn: UserWriteListener): () => void {
  writeListeners.add(fn);
  return () => { writeListeners.delete(fn); };
}

/**
 * Every UPDATE below calls this, so no writer can forget to invalidate cached profiles. Writers of data
 * that the profile carries from other tables (the wallet: solanaPublicKey) call it too.
 */
export const announceUserWrite = (id: string): void => {
  for (const fn of writeListeners) {
    try { fn(id); } catch { /* a listener's failure must not fail the write */ }
  }
};

/**
 * What every read of a user row returns: the row plus the linked wallet's key (Cedros AuthUser and
 * UserResponse carry solanaPublicKey), in the same statement so the profile is one consistent read.
 */
const USER_COLUMNS = 'users.*, (SELECT w.public_key FROM wallet_identities w WHERE w.user_id = users.id) AS solana_public_key';

/** Strips the password hash: what leaves the store for anything but credential checks. */
export const publicUser = ({ passwordHash: _omit, ...u }: UserWithSecret): User => u;

/**
 * Users of the transaction's tenant (RLS scopes every query). Every function that UPDATEs a row must
 * call `announceUserWrite(id)`: the profile cache behind GET /auth/user relies on it.
 */
export const userStore = {
  async byId(tx: Tx, id: string): Promise<UserWithSecret | null> {
    const { rows } = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] ? toUser(rows[0]) : null;
  },
  /** Case-insensitive email lookup. */
  async byEmail(tx: Tx, email: string): Promise<UserWithSecret | null> {
    const { rows } = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower($1)`, [email]);
    return rows[0] ? toUser(rows[0]) : null;
  },
  /**
   * `byEmail` for a password sign-in: the row plus whether the user's second factor (TOTP) is enabled, in
   * one statement, so the flag is read in the same snapshot as `sessionEpoch`. Enabling or disabling MFA
   * increments the epoch in its own transaction, and a session starts only under the epoch read here
   * (sessions.start), so a sign-in that read a flag the account no longer has fails instead of skipping
   * the second factor. One statement for known and unknown emails alike (no extra read that would tell
   * them apart by timing).
   */
  async byEmailForSignIn(tx: Tx, email: string): Promise<(UserWithSecret & { mfaEnabled: boolean }) | null> {
    const { rows } = await tx.query<UserRow & { mfa_enabled: boolean }>(
      `SELECT ${USER_COLUMNS}, EXISTS (SELECT 1 FROM user_mfa m WHERE m.user_id = users.id AND m.enabled_at IS NOT NULL) AS mfa_enabled
         FROM users WHERE lower(email) = lower($1)`, [email]);
    return rows[0] ? { ...toUser(rows[0]), mfaEnabled: rows[0].mfa_enabled === true } : null;
  },
  /** Null when the email is taken in this tenant (the unique index decides, so two racers cannot both win). */
  async insert(tx: Tx, u: { tenantId: string; email: string | null; name?: string | null; passwordHash?: string | null; emailVerified?: boolean; now: Date }): Promise<UserWithSecret | null> {
    const { rows } = await tx.query<UserRow>(
      `INSERT INTO users (tenant_id, email, name, password_hash, email_verified, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6)
       ON CONFLICT (tenant_id, lower(email)) WHERE email IS NOT NULL DO NOTHING RETURNING *`,
      [u.tenantId, u.email, u.name ?? null, u.passwordHash ?? null, u.emailVerified ?? false, u.now]);
    return rows[0] ? toUser(rows[0]) : null;
  },
  async setPasswordHash(tx: Tx, id: string, hash: string, now: Date): Promise<void> {
    await tx.query('UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1', [id, hash, now]);
    announceUserWrite(id);
  },
  /** Records the sign-in time (not a profile change: cached profiles are not invalidated for it). */
  async markLogin(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query('UPDATE users SET last_login_at = $2 WHERE id = $1', [id, now]);
  },
  async setEmailVerified(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query('UPDATE users SET email_verified = true, updated_at = $2 WHERE id = $1', [id, now]);
    announceUserWrite(id);
  },
  /**
   * Sets a new, proven address (verified). False when another user of the tenant holds it: the check and
   * the unique index both decide, so a racing sign-up with the same address leaves this write undone.
   */
  async setVerifiedEmail(tx: Tx, id: string, email: string, now: Date, lookupOf: (address: string) => string): Promise<boolean> {
    const taken = await tx.query('SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2', [email, id]);
    if (taken.rows.length > 0) return false;
    // The replaced address's keyed lookup (audit erasure on deletion must still find rows that mention it).
    const { rows } = await tx.query<{ email: string | null }>('SELECT email FROM users WHERE id = $1', [id]);
    const former = rows[0]?.email && rows[0].email.toLowerCase() !== email.toLowerCase() ? [lookupOf(rows[0].email)] : [];
    try {
      await tx.query('SAVEPOINT set_email');
      await tx.query(
        `UPDATE users SET email = $2, email_verified = true, updated_at = $3,
                former_address_lookups = (SELECT ARRAY(SELECT DISTINCT unnest(former_address_lookups || $4::text[])))
          WHERE id = $1`, [id, email, now, former]);
      await tx.query('RELEASE SAVEPOINT set_email');
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
      await tx.query('ROLLBACK TO SAVEPOINT set_email');
      return false;
    }
    announceUserWrite(id);
    return true;
  },
  /**
   * Turns the row into a pseudonymous tombstone (account deletion): email, name and password hash are
   * erased, the account is disabled and marked deleted. The id stays, so audit rows keep pointing at it.
   */
  async eraseToTombstone(tx: Tx, id: string, now: Date): Promise<void> {
    await tx.query(
      `UPDATE users SET email = NULL, name = NULL, password_hash = NULL, email_verified = false, disabled = true,
              last_login_at = NULL, former_address_lookups = '{}', deleted_at = $2, updated_at = $2 WHERE id = $1`, [id, now]);
    announceUserWrite(id);
  },
  async setDisabled(tx: Tx, id: string, disabled: boolean, now: Date): Promise<UserWithSecret | null> {
    const { rows } = await tx.query<UserRow>(`UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1 RETURNING ${USER_COLUMNS}`, [id, disabled, now]);
    announceUserWrite(id);
    return rows[0] ? toUser(rows[0]) : null;
  },
  async list(tx: Tx, limit: number, offset: number): Promise<{ items: UserWithSecret[]; total: number }> {
    const { rows } = await tx.query<UserRow & { total: number }>(
      `SELECT ${USER_COLUMNS}, count(*) OVER () AS total FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2`, [limit, offset]);
    return { items: rows.map(toUser), total: rows[0] ? Number(rows[0].total) : 0 };
  },
};

/**
 * The per-user session epoch (migrations/0009): the one mechanism that orders session creation against
 * revocation-by-user, in Postgres, under the user row's lock.
 */
export const sessionEpochs = {
  /**
   * Increments the epoch (locking the row until the transaction ends) and returns the new value. Sign-ins
   * that read the old epoch can no longer start a session; one waiting for the lock sees the new value.
   */
  async bump(tx: Tx, userId: string): Promise<number | null> {
    const { rows } = await tx.query<{ session_epoch: number }>(
      'UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch', [userId]);
    announceUserWrite(userId);
    return rows[0] ? Number(rows[0].session_epoch) : null;
  },
  /**
   * Reads the epoch and whether the user is disabled, holding a share lock until the transaction ends:
   * no revocation of this user can run between this read and the commit of the session it admits.
   */
  async hold(tx: Tx, userId: string): Promise<{ epoch: number; disabled: boolean } | null> {
    const { rows } = await tx.query<{ session_epoch: number; disabled: boolean }>(
      'SELECT session_epoch, disabled FROM users WHERE id = $1 FOR SHARE', [userId]);
    return rows[0] ? { epoch: Number(rows[0].session_epoch), disabled: rows[0].disabled } : null;
  },
  /**
   * hold() for a sign-in, in the same statement as the last-login mark: the UPDATE locks the row (more
   * strongly than FOR SHARE, so no upgrade can deadlock two sign-ins of one user) until the transaction
   * ends; a sign-in refused by the caller's check rolls the mark back with everything else.
   */
  async holdForSignIn(tx: Tx, userId: string, now: Date): Promise<{ epoch: number; disabled: boolean } | null> {
    const { rows } = await tx.query<{ session_epoch: number; disabled: boolean }>(
      'UPDATE users SET last_login_at = $2 WHERE id = $1 RETURNING session_epoch, disabled', [userId, now]);
    return rows[0] ? { epoch: Number(rows[0].session_epoch), disabled: rows[0].disabled } : null;
  },
};
