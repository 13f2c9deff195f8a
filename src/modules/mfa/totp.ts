import { generateSecret, generateSync, generateURI, verifySync } from 'otplib';

/**
 * TOTP per RFC 6238 through otplib: HMAC-SHA-1, 6 digits, 30-second steps from T0 = 0.
 * Pure functions of (secret, time): every caller passes the time from the injected clock.
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 4226 R6 asks for ≥ 128 bits and recommends 160: 20 bytes from the CSPRNG. */
export const TOTP_SECRET_BYTES = 20;

/** A new shared secret, base32 (the form authenticator apps and otpauth:// URIs use). */
export function newTotpSecret(): string {
  return generateSecret({ length: TOTP_SECRET_BYTES });
}

/** The time step (RFC 6238 T) that contains `epochSeconds`. */
export const stepAt = (epochSeconds: number): number => Math.floor(epochSeconds / TOTP_PERIOD_SECONDS);

/** The code of the step containing `epochSeconds` (a string: leading zeros are part of the code). */
export function totpAt(secretBase32: string, epochSeconds: number, digits: 6 | 8 = TOTP_DIGITS): string {
  return generateSync({ secret: secretBase32, epoch: epochSeconds, period: TOTP_PERIOD_SECONDS, digits, algorithm: 'sha1' });
}

/**
 * The step `code` belongs to, among the current step T and the previous one T-1 only (network delay,
 * RFC 6238 §5.2; a later step is never accepted, SECURITY §D-3), and only when it is after
 * `afterStep` (the last step this user has used: codes only move forward, MFA-02). Null otherwise.
 * otplib compares in constant time. The caller still records the step with a guarded update, which
 * is what makes a code single-use under concurrency.
 */
export function matchTotpStep(secretBase32: string, code: string, nowSeconds: number, afterStep: number | null): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  try {
    const r = verifySync({
      secret: secretBase32, token: code, epoch: Math.floor(nowSeconds), period: TOTP_PERIOD_SECONDS,
      digits: TOTP_DIGITS, algorithm: 'sha1', epochTolerance: [TOTP_PERIOD_SECONDS, 0],
      ...(afterStep !== null ? { afterTimeStep: afterStep } : {}),
    });
    const step = r.valid ? (r as { timeStep?: number }).timeStep : undefined;
    if (step === undefined) return null;
    const now = stepAt(nowSeconds);
    // Belt and braces over the library's window: T or T-1, strictly after the last used step.
    if (step !== now && step !== now - 1) return null;
    if (afterStep !== null && step <= afterStep) return null;
    return step;
  } catch {
    return null;
  }
}

/**
 * `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`. otplib leaves
 * out parameters equal to the defaults; they are added explicitly so that apps with other defaults agree.
 */
export function otpauthUri(o: { issuer: string; account: string; secretBase32: string }): string {
  // A colon separates issuer and account in the label, so neither may carry one.
  const issuer = o.issuer.replace(/:/g, ' ').trim() || 'Authplane';
  const account = o.account.replace(/:/g, ' ').trim() || 'user';
  const base = generateURI({ issuer, label: account, secret: o.secretBase32 });
  return `${base}&algorithm=SHA1&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD_SECONDS}`;
}
