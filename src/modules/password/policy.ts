import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * NIST SP 800-63B-4 §3.1.1.2: at least 8 code points, at most 256 (NIST asks to permit at least 64), no
 * composition rules, NFKC-normalized, never truncated (argon2 takes the whole string).
 * Why 8 and not NIST's 15 for single-factor passwords: DESIGN and the Cedros contract fix 8, tenants'
 * existing users sign up with 8+, and the weak short passwords 15 would stop are refused by the blocklist
 * below, slowed by argon2id and limited per IP and per account. Recorded in docs/decisions.md.
 */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
const BLOCKLIST_SIZE = 20_000;

const blocklist = new Set<string>(
  (dictionary.passwords as string[]).slice(0, BLOCKLIST_SIZE).filter((p) => p.length >= PASSWORD_MIN).map((p) => p.toLowerCase()),
);
for (const extra of ['authplane', 'password', 'passw0rd', 'letmein', 'changeme', 'welcome']) blocklist.add(extra);

/** Passwords are compared as NFKC so the same text typed on different keyboards matches. */
export const normalizePassword = (p: string): string => p.normalize('NFKC');

const codePoints = (s: string) => [...s].length;

/**
 * The reason `password` is refused, or null. Checks length in code points, a list of common passwords,
 * and words from the context (tenant slug, the product name, the email's local part, repeats of it).
 */
export function passwordProblem(password: string, ctx: { email?: string | null; tenantSlug?: string }): string | null {
  const p = normalizePassword(password);
  const n = codePoints(p);
  if (n < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (n > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  const lower = p.toLowerCase();
  const stripped = lower.replace(/[^\p{L}\p{N}]+/gu, '');
  if (blocklist.has(lower) || blocklist.has(stripped) || blocklist.has(stripped.replace(/\d+$/, ''))) {
    return `is on the common-passwords blocklist (the ${BLOCKLIST_SIZE.toLocaleString('en')} most common passwords seen in public breaches, zxcvbn-ts); choose a longer, less common one`;
  }
  const local = ctx.email?.split('@')[0] ?? '';
  // Context words are compared the way the password is: lower case, letters and digits only
  // ("jonathan.smith" and "acme-widgets" must match "JonathanSmith1").
  const word = (w: string | undefined) => (w ?? '').normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
  const context = [word(ctx.tenantSlug), 'authplane', word(local)].filter((w) => w.length >= 3);
  for (const w of context) {
    const rest = stripped.split(w).join('');
    if (stripped.includes(w) && rest.replace(/\d/g, '').length < 4) {
      return 'is on the context blocklist: it is too close to the service name, this tenant or your email address';
    }
  }
  if (/^(.)\1+$/u.test(p)) return 'must not be one character repeated';
  return null;
}
