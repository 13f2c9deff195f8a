import type { Sql, Tx } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256, sha256Hex } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import { oneTimeTokenStore, type OneTimeToken, type TokenPurpose } from './store.js';

/** Lifetimes (SECURITY ML-02: links at most 15 minutes; PWD-07: reset within the hour). */
export const TOKEN_TTL_MS: Record<TokenPurpose, number> = {
  magic_link: 15 * 60_000,
  email_verification: 15 * 60_000,
  password_reset: 60 * 60_000,
  // Confirming a new address (src/modules/email-change): the link goes to the new mailbox.
  email_change: 60 * 60_000,
  // The notice to the old address: the owner may be away; 72 h to undo a change they did not make.
  email_change_cancel: 72 * 60 * 60_000,
};

/** Mails per address, purpose and tenant in a sliding window (SECURITY ML-04: mail bombing). */
export const MAIL_CAP = { limit: 5, windowMs: 15 * 60_000 };

/** Used tokens stay this long past their expiry so a replay is told "already used"; then they are swept. */
const KEEP_AFTER_EXPIRY_MS = 24 * 60 * 60_000;
const SWEEP_INTERVAL_MS = 60 * 60_000;

/** Tokens are 32 random bytes, base64url: exactly 43 characters. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export type OneTimeTokens = ReturnType<typeof createOneTimeTokens>;

/**
 * Issuing and consuming emailed one-time tokens. The plaintext exists only in the mail; Postgres holds
 * its SHA-256 (a high-entropy secret needs no slow hash). Every token is bound to its tenant by RLS.
 */
export function createOneTimeTokens(deps: { sql: Sql; kv: Kv; clock: Clock }) {
  const { sql, kv, clock } = deps;
  const lastSweep = new Map<string, number>();

  /** Deletes long-expired tokens of the tenant, at most once an hour per process. */
  async function maybeSweep(tx: Tx, tenantId: string): Promise<void> {
    const now = clock.nowMs();
    if (now - (lastSweep.get(tenantId) ?? 0) < SWEEP_INTERVAL_MS) return;
    lastSweep.set(tenantId, now);
    await oneTimeTokenStore.sweep(tx, new Date(now - KEEP_AFTER_EXPIRY_MS));
  }

  return {
    /**
     * Counts one mail to `email` for `purpose` and says whether it may be sent. Counted for every
     * request, known address or not, so the cap says nothing about which accounts exist.
     */
    async mayMail(tenantId: string, purpose: TokenPurpose, email: string): Promise<boolean> {
      const key = kvKey(tenantId, 'mail-cap', sha256Hex(email.toLowerCase()), purpose);
      const r = await kv.slidingWindow(key, MAIL_CAP.limit, MAIL_CAP.windowMs, clock.nowMs());
      return r.allowed;
    },

    /**
     * Makes a new token for `email` (earlier ones of the same purpose stop working) and returns the
     * plaintext, or — with `issue: false` — does the same database work without storing a token.
     */
    async issue(tenantId: string, o: { purpose: TokenPurpose; email: string; userId: string | null; issue: boolean }): Promise<string | null> {
      const token = randomToken(32);
      const now = clock.now();
      await sql.tx(tenantId, async (tx) => {
        await maybeSweep(tx, tenantId);
        if (!o.issue) return oneTimeTokenStore.retire(tx, o.purpose, o.email);
        await oneTimeTokenStore.replace(tx, {
          tenantId, purpose: o.purpose, tokenHash: sha256(token), userId: o.userId, email: o.email,
          now, expiresAt: new Date(now.getTime() + TOKEN_TTL_MS[o.purpose]),
        });
      });
      return o.issue ? token : null;
    },

    /** Consumes `token` inside the caller's transaction; null when it cannot be used (see `failure`). */
    async consume(tx: Tx, purpose: TokenPurpose, token: string): Promise<OneTimeToken | null> {
      if (!TOKEN_SHAPE.test(token)) return null;
      return oneTimeTokenStore.consume(tx, purpose, sha256(token), clock.now());
    },

    /** A usable token's record without consuming it (e.g. to check a new password first); null otherwise. */
    async peek(tx: Tx, purpose: TokenPurpose, token: string): Promise<OneTimeToken | null> {
      if (!TOKEN_SHAPE.test(token)) return null;
      const t = await oneTimeTokenStore.find(tx, purpose, sha256(token));
      return t && !t.usedAt && t.expiresAt.getTime() > clock.nowMs() ? t : null;
    },

    /**
     * The 401 for a token that could not be used, saying why. Only the holder of the token learns
     * whether it was used or expired; an unknown token (or one of another tenant) gets the generic text.
     */
    async failure(tenantId: string, purpose: TokenPurpose, token: string, what: string): Promise<{ error: AppError; reason: string }> {
      const t = TOKEN_SHAPE.test(token)
        ? await sql.tx(tenantId, (tx) => oneTimeTokenStore.find(tx, purpose, sha256(token)))
        : null;
      const reason = !t ? 'unknown' : t.usedAt ? 'used' : t.expiresAt.getTime() <= clock.nowMs() ? 'expired' : 'invalid';
      const message = reason === 'used' ? `This ${what} has already been used; request a new one.`
        : reason === 'expired' ? `This ${what} has expired; request a new one.`
          : `This ${what} is invalid; request a new one.`;
      return { error: new AppError('invalid_token', message), reason };
    },
  };
}
