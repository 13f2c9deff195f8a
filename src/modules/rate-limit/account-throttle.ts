import type { RateLimitSetting } from '../../config.js';
import { AppError } from '../../http/errors.js';
import { kvKey, type Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { sha256Hex } from '../../lib/crypto.js';
import type { AuditService } from '../audit/service.js';
import type { LoginThrottle } from '../password/service.js';
import type { Sql } from '../../db/sql.js';
import { userStore } from '../users/store.js';
import type { Events } from '../webhooks/events.js';

/**
 * Per-account limit on password attempts (PWD-06), whatever the client address, so a botnet spreading
 * guesses for one account over many addresses still gets at most N per window (RATE_LIMIT_ACCOUNT,
 * default 10 per 15 minutes, N ≤ 100).
 *
 * Each attempt takes a slot in a sliding window per (tenant, account) *before* the password is checked
 * (`check`), in one atomic store step, so N parallel wrong attempts are all counted and no more than N
 * get through; a correct password empties the window (`succeeded`), so the owner's own successful
 * sign-ins never accumulate. While the window is full every attempt, right or wrong, gets
 * `429 rate_limited` with `retryAfter`; refused attempts are not counted, so the lock ends by itself as
 * the window slides (at most two windows after the last counted failure) and can never become
 * permanent. Under a sustained attack an attacker can keep the password route of one account slowed
 * to N guesses per window; the owner can still sign in with a magic link or a passkey, which this
 * throttle does not limit, or reset the password: a completed reset empties the window too
 * (`succeeded`, called by the password-reset service). The account is named by a SHA-256 of its
 * normalised email, so the store never holds addresses.
 */
export function createAccountThrottle(deps: { kv: Kv; clock: Clock; audit: AuditService; limit: RateLimitSetting; sql?: Sql; events?: Events }): LoginThrottle {
  const { kv, clock, audit, limit } = deps;
  const windowMs = limit.windowSeconds * 1000;
  const keys = (tenantId: string, account: string) => {
    const h = sha256Hex(account.trim().toLowerCase());
    // One account's two keys share its hash tag ({<tenant>:<hash>}): they are deleted together.
    return { window: kvKey(tenantId, 'login-account', h), noted: kvKey(tenantId, 'login-account-noted', h), hash: h };
  };

  return {
    async check(tenantId, accountKey) {
      const k = keys(tenantId, accountKey);
      const r = await kv.slidingWindow(k.window, limit.limit, windowMs, clock.nowMs());
      if (r.allowed) return;
      const retryAfter = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
      // One audit row per lock, not one per refused attempt (a botnet would otherwise flood the log).
      if (await kv.set(k.noted, '1', { nx: true, ttlMs: windowMs })) {
        await audit.record({ tenantId, actor: { type: 'system', id: 'rate-limit' }, action: 'rate_limit.account_throttle', target: k.hash, outcome: 'denied',
          metadata: { attempts: limit.limit, windowSeconds: limit.windowSeconds, retryAfter } });
        // The lock lives in the key-value store; its event is written on its own (once per lock), and only for
        // an account that exists: a lock on an unknown address tells the tenant's receiver nothing about a user.
        const { sql, events } = deps;
        if (sql && events) {
          await sql.tx(tenantId, async (tx) => {
            const user = await userStore.byEmail(tx, accountKey);
            if (user) await events.emit(tx, tenantId, 'user.locked_out', { userId: user.id, reason: 'password_attempts', retryAfter });
          });
        }
      }
      throw new AppError('rate_limited', 'Too many sign-in attempts for this account; wait and try again, or sign in another way.', { retryAfter });
    },

    // The attempt was already counted by check(), before the password was verified.
    async failed() {},

    async succeeded(tenantId, accountKey) {
      const k = keys(tenantId, accountKey);
      await kv.del(k.window, k.noted);
    },
  };
}
