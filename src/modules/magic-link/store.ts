import type { Tx } from '../../db/sql.js';

export const magicLinkStore = {
  /**
   * Removes the password of a user whose address was never verified; true when there was one. Used when
   * the owner of the address proves it by magic link: a password set by whoever registered the address
   * before them must not keep working (account pre-hijacking). The caller marks the address verified
   * next through userStore.setEmailVerified, which also drops cached profiles of the user.
   */
  async clearUnverifiedPassword(tx: Tx, userId: string, now: Date): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE users SET password_hash = NULL, updated_at = $2
        WHERE id = $1 AND email_verified = false AND password_hash IS NOT NULL`, [userId, now]);
    return rowCount > 0;
  },
};
