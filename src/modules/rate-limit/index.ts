import type { ModuleDef } from '../module.js';
import { banRoutes } from './routes.js';
import { BAN, LOCKOUT } from './limits.js';

export { createRateLimitService, type RateLimitService } from './service.js';
export { createAccountThrottle } from './account-throttle.js';
export { declareRateLimitStatuses, registerBanCheck, registerRateLimit } from './hooks.js';

export const rateLimitModule: ModuleDef = {
  name: 'rateLimits',
  plugin: banRoutes,
  discovery: (config) => ({
    limits: {
      credential: `${config.rateLimits.credential.limit} requests per ${config.rateLimits.credential.windowSeconds} s per client address per route (sign-in, token and key-checking routes)`,
      default: `${config.rateLimits.default.limit} requests per ${config.rateLimits.default.windowSeconds} s per client address per route`,
      account: `${config.rateLimits.account.limit} password attempts per ${config.rateLimits.account.windowSeconds} s per account; a success or a password reset empties it`,
      tenantOverrides: 'tenant settings rateLimits.{credential,default}.{limit,windowSeconds}',
    },
    headers: 'Limited routes answer RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds); a 429 rate_limited also carries Retry-After and a retryAfter body field (seconds).',
    lockout: `${LOCKOUT.violations} refused requests on credential routes within ${LOCKOUT.violationWindowMs / 60_000} min lock the address out of them for ${LOCKOUT.durationMs / 60_000} min (429 with retryAfter).`,
    ban: `The ${BAN.lockouts}rd lockout within ${BAN.withinMs / 3_600_000} h bans the address permanently: 403 banned on every route but ${config.basePath}/health.`,
    admin: {
      list: { method: 'GET', path: `${config.basePath}/admin/bans`, query: { status: 'active|lifted|all', limit: 'number?', offset: 'number?' }, auth: 'Authorization: Bearer ak_…' },
      lift: { method: 'DELETE', path: `${config.basePath}/admin/bans/{id}`, alternative: `DELETE ${config.basePath}/admin/bans?ip=<address>`, auth: 'Authorization: Bearer ak_…' },
    },
    idempotency: 'POST routes that create things accept Idempotency-Key (1–255 visible ASCII characters, no "*"): the same key and body within 24 h replay the first response with Idempotent-Replayed: true; another body → 422 idempotency_key_reused; while the first is running → 409 conflict.',
  }),
};
