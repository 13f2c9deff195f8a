import type { Config, RateLimitSetting } from '../../config.js';
import type { Tenant } from '../tenants/schemas.js';

/**
 * Every rate-limit number of the service, in one place.
 *
 * Request limits are a sliding window (`kv.slidingWindow`, the two-window approximation documented in
 * src/kv/sliding-window.ts: never more than `limit` admitted per aligned window, at most 2·limit − 1 in
 * an unaligned one when the previous window's hits were bunched at its end) per client address per
 * route pattern per tenant. A route picks its class with `config.rateLimit`; no declaration means
 * 'default'. The numbers of a class come from, in order: the tenant's `settings.rateLimits.<class>`,
 * then the process-wide RATE_LIMIT_CREDENTIAL / RATE_LIMIT_DEFAULT (defaults 20/60 and 600/60).
 */
export type LimitedClass = 'credential' | 'default';

/** 10 refused requests on credential routes within 15 minutes lock the address out of them for 15 minutes. */
export const LOCKOUT = {
  violations: 10,
  violationWindowMs: 15 * 60_000,
  durationMs: 15 * 60_000,
} as const;

/** The third lockout of an address within 24 hours bans it permanently (until an admin lifts it). */
export const BAN = {
  lockouts: 3,
  withinMs: 24 * 60 * 60_000,
} as const;

// Per-account password attempts (PWD-06): config.rateLimits.account = RATE_LIMIT_ACCOUNT, default 10
// per 900 s, at most 100 (NIST SP 800-63B); counted per tenant and account (account-throttle.ts).

/**
 * Local admission of the `default` class on Redis (local-admission.ts): every `intervalMs` each instance
 * renews, in one pipeline, a lease of reserved hits for every bucket it saw in the last interval, sized
 * to that demand and at most `leaseShare` of the bucket's limit. A bucket refused anywhere is refused
 * everywhere within one interval; leases never let a bucket pass its limit. `maxBuckets` bounds the
 * memory (beyond it new buckets are counted exactly). The `credential` class is always exact (RL-06).
 */
export const LOCAL_ADMISSION = {
  intervalMs: 100,
  leaseShare: 1 / 20,
  maxBuckets: 50_000,
} as const;

/** How often each instance re-reads lockouts (Redis) and bans (Postgres), bounding staleness if a pub/sub message is lost. */
export const RESYNC = {
  lockoutsMs: 5_000,
  bansMs: 30_000,
} as const;

/** The limit of `cls` for a request of `tenant` (null: admin plane, process defaults). */
export function limitFor(cls: LimitedClass, tenant: Tenant | null, config: Readonly<Config>): RateLimitSetting {
  return tenant?.settings.rateLimits?.[cls] ?? config.rateLimits[cls];
}
