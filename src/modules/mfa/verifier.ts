import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { deriveKey, open, seal } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import { mfaStore, type TotpFactor } from './store.js';
import type { MfaKvStore } from './kv-store.js';
import { recoveryCodeDigest } from './recovery-codes.js';
import { matchTotpStep } from './totp.js';

/** Wrong second-factor codes allowed per user in the window before every code is refused (MFA-03). */
export const MFA_ATTEMPT_LIMIT = 5;
export const MFA_ATTEMPT_WINDOW_MS = 5 * 60_000;

export type SecondFactorInput = { totp: string } | { recoveryCode: string };

export interface VerifyContext {
  tenantId: string;
  userId: string;
  /** the audit action of the flow that asked, e.g. `mfa.login` */
  action: string;
  actor: { type: string; id: string | null };
  ctx: AuditContext;
}

export const invalidCode = () => new AppError('invalid_code', 'The code is wrong, expired or already used.');

/** The sealing of TOTP secrets: AES-256-GCM under a key of their own, bound to tenant and user. */
export function secretBox(authSecret: string) {
  const key = deriveKey(authSecret, 'totp');
  const aad = (tenantId: string, userId: string) => `${tenantId}:${userId}`;
  return {
    seal: (tenantId: string, userId: string, secretBase32: string) => seal(key, secretBase32, aad(tenantId, userId)),
    open: (f: Pick<TotpFactor, 'tenantId' | 'userId' | 'secretSealed'>) => open(key, f.secretSealed, aad(f.tenantId, f.userId)).toString('utf8'),
  };
}

export type CodeVerifier = ReturnType<typeof createCodeVerifier>;

/**
 * The one place second-factor codes are checked, for every flow (login, step-up, gate, disable):
 * the per-user attempt limit first, then the code, then its single use — a TOTP step is recorded
 * with a guarded UPDATE (only a later step than the last one wins), a recovery code is marked used
 * with `used_at IS NULL`. So a code used at one verifier is used at all of them (MFA-02).
 */
export function createCodeVerifier(deps: { sql: Sql; clock: Clock; audit: AuditService; kv: MfaKvStore; authSecret: string }) {
  const { sql, clock, audit, kv } = deps;
  const box = secretBox(deps.authSecret);
  const recoveryKey = deriveKey(deps.authSecret, 'mfa-recovery-codes');

  /** Counts the attempt; throws rate_limited once the user has used up the window (even for a right code). */
  async function countAttempt(v: VerifyContext): Promise<void> {
    const r = await kv.countAttempt(v.tenantId, v.userId, MFA_ATTEMPT_LIMIT, MFA_ATTEMPT_WINDOW_MS, clock.nowMs());
    if (r.allowed) return;
    const retryAfter = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    await audit.record({ tenantId: v.tenantId, actor: v.actor, action: 'mfa.rate_limited', target: v.userId, outcome: 'denied', ...v.ctx, metadata: { flow: v.action, retryAfter } });
    throw new AppError('rate_limited', `Too many wrong codes for this account; try again in ${retryAfter} seconds.`, { retryAfter });
  }

  async function fail(v: VerifyContext, factor: 'totp' | 'recovery_code', reason: string): Promise<never> {
    await audit.record({ tenantId: v.tenantId, actor: v.actor, action: v.action, target: v.userId, outcome: 'failure', ...v.ctx, metadata: { factor, reason } });
    throw invalidCode();
  }

  return {
    countAttempt,
    fail,
    /** A successful code clears the user's count of wrong attempts. */
    succeeded: (v: VerifyContext) => kv.clearAttempts(v.tenantId, v.userId),
    recoveryDigest: (tenantId: string, userId: string, code: string) => recoveryCodeDigest(recoveryKey, tenantId, userId, code),

    /**
     * Verifies and uses up a TOTP or recovery code of a user whose MFA is enabled. Throws invalid_code
     * (audited as a failure of `v.action`) or rate_limited; returns which factor passed.
     */
    async verify(v: VerifyContext, input: SecondFactorInput): Promise<'totp' | 'recovery_code'> {
      await countAttempt(v);
      const now = clock.now();
      if ('totp' in input) {
        const f = await sql.tx(v.tenantId, (tx) => mfaStore.factor(tx, v.userId));
        if (!f?.enabledAt) return fail(v, 'totp', 'mfa_not_enabled');
        const step = matchTotpStep(box.open(f), input.totp, now.getTime() / 1000, null);
        if (step === null) return fail(v, 'totp', 'wrong_code');
        const used = await sql.tx(v.tenantId, (tx) => mfaStore.useStep(tx, v.userId, f.secretSealed, step, now));
        if (!used) return fail(v, 'totp', 'replayed');
        await kv.clearAttempts(v.tenantId, v.userId);
        return 'totp';
      }
      const digest = recoveryCodeDigest(recoveryKey, v.tenantId, v.userId, input.recoveryCode);
      const used = digest ? await sql.tx(v.tenantId, (tx) => mfaStore.useRecoveryCode(tx, v.userId, digest, now)) : false;
      if (!used) return fail(v, 'recovery_code', 'wrong_or_used_code');
      await kv.clearAttempts(v.tenantId, v.userId);
      return 'recovery_code';
    },

    box,
  };
}
