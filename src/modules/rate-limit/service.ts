import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/sql.js';
import { kvKey, type Kv, type SlidingWindowResult, type Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { banStore, type Ban, type BanStatus } from './ban-store.js';
import { clientKey } from './client-ip.js';
import { createIpBlocks } from './ip-blocks.js';
import { BAN, limitFor, LOCKOUT, type LimitedClass } from './limits.js';
import { createLocalAdmission } from './local-admission.js';
import { createBucketKeyMemo } from './bucket-keys.js';

/** The limiter's answer for one request; the hook turns it into RateLimit-* headers and maybe a 429. */
export interface HitResult {
  allowed: boolean;
  /** 'limit': over the route's window; 'lockout': the address is locked out of credential routes. */
  refusal: 'limit' | 'lockout' | null;
  limit: number;
  remaining: number;
  /** seconds until the window is empty again (RateLimit-Reset) */
  resetSeconds: number;
  /** seconds until a request would be admitted (Retry-After); 0 when allowed */
  retryAfter: number;
}

export type RateLimitService = ReturnType<typeof createRateLimitService>;

const SYSTEM = { type: 'system', id: 'rate-limit' } as const;

/** Per-address keys carry the address as their Cluster hash tag, so one address's keys share a slot. */
const ipKeys = (ip: string) => ({
  violations: kvKey(null, 'rl', `ip:${ip}`, 'violations'),
  history: kvKey(null, 'rl', `ip:${ip}`, 'lockout-history'),
});

/** One rate-limit bucket's key; the bucket is its own hash tag, so one tenant's buckets spread over every Cluster master. */
const bucketKey = (tenant: Tenant | null, cls: LimitedClass, route: string, ip: string) =>
  kvKey(tenant?.id ?? null, 'rl', `${cls}:${route}:${ip}`);

const secondsUp = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * Request rate limits (sliding window per client address, route pattern and tenant), the lockout of
 * addresses that keep hitting the credential routes' limits, and permanent bans (DESIGN §5, RL-01..04).
 * Never fails open: when the store cannot be reached `hit` rejects with KvUnavailableError (→ 503).
 */
export function createRateLimitService(deps: { config: Readonly<Config>; sql: Sql; kv: Kv; clock: Clock; audit: AuditService; log: Logger }) {
  const { config, sql, kv, clock, audit, log } = deps;
  const blocks = createIpBlocks({ sql, kv, clock, log });
  const bestEffort = (what: string) => (err: unknown) => log.warn({ err }, `rate limit: ${what} failed`);
  // The default class on a shared store admits warm buckets from leases (local-admission.ts); the
  // in-process store is already local, and the credential class stays exact (RL-06).
  const local = kv.kind === 'redis' && kv.slidingWindowLease ? createLocalAdmission(kv as Kv & Required<Pick<Kv, 'slidingWindowLease'>>) : null;
  const defaultBucketKey = createBucketKeyMemo((tenant, route, ip) => bucketKey(tenant, 'default', route, ip));

  /** The HitResult of a window answer. */
  const toResult = (r: SlidingWindowResult, limit: number): HitResult => ({
    allowed: r.allowed, refusal: r.allowed ? null : 'limit', limit, remaining: r.remaining,
    resetSeconds: secondsUp(r.resetMs), retryAfter: r.allowed ? 0 : Math.max(1, secondsUp(r.retryAfterMs)),
  });

  /** Bans the address when this is its third lockout within 24 h. */
  async function maybeBan(ip: string, now: number, ctx: AuditContext): Promise<void> {
    const { history } = ipKeys(ip);
    // A random suffix keeps two lockouts in the same millisecond (two instances) as two members.
    await kv.sadd(history, `${now}:${randomBytes(4).toString('hex')}`, BAN.withinMs);
    const recent = (await kv.smembers(history)).map((m) => Number(m.split(':')[0])).filter((t) => t > now - BAN.withinMs && t <= now);
    if (recent.length < BAN.lockouts) return;
    const row = await sql.tx(null, (tx) => banStore.insert(tx, { ip, reason: 'repeated_lockouts', lockouts: recent.length, now: new Date(now) }));
    if (!row) return; // another instance banned it first
    await blocks.banned(ip, row.id);
    await audit.record({ tenantId: null, actor: SYSTEM, action: 'rate_limit.ban', target: ip, outcome: 'denied', ...ctx, metadata: { banId: row.id, lockouts: recent.length, withinHours: BAN.withinMs / 3_600_000 } });
  }

  /** Counts a refused credential request; the 10th within 15 minutes locks the address out. Returns the lockout end or null. */
  async function violation(ip: string, o: { tenantId: string | null; route: string; ctx: () => AuditContext }): Promise<number | null> {
    const now = clock.nowMs();
    const { violations } = ipKeys(ip);
    const r = await kv.slidingWindow(violations, LOCKOUT.violations, LOCKOUT.violationWindowMs, now);
    // Exactly one violation is admitted as the last one the window holds: that one locks out.
    if (!r.allowed || r.remaining > 0) return null;
    await kv.del(violations);
    const until = now + LOCKOUT.durationMs;
    await blocks.lock(ip, until);
    log.warn({ ip, route: o.route }, 'rate limit: address locked out of credential routes');
    const ctx = o.ctx();
    await audit.record({ tenantId: null, actor: SYSTEM, action: 'rate_limit.lockout', target: ip, outcome: 'denied', ...ctx,
      metadata: { route: o.route, requestTenant: o.tenantId, violations: LOCKOUT.violations, until: new Date(until).toISOString() } });
    await maybeBan(ip, now, ctx);
    return until;
  }

  return {
    /** Subscribes to lockout/ban changes and loads the current ones; call once at start. */
    async start(): Promise<Unsubscribe> {
      const stopBlocks = await blocks.start();
      const stopLocal = local?.start(() => clock.nowMs());
      return async () => {
        stopLocal?.();
        await stopBlocks();
      };
    },

    /**
     * The answer for a `default`-class hit when this instance can give it from memory (a warm bucket's
     * lease, or a refusal it already knows), else null: then call `hit`. No promise, no store call.
     */
    hitLocal(o: { tenant: Tenant | null; route: string; ip: string }): HitResult | null {
      if (!local) return null;
      const { limit, windowSeconds } = limitFor('default', o.tenant, config);
      if (!local.leases(limit)) return null;
      const r = local.local(defaultBucketKey(o.tenant, o.route, o.ip), limit, windowSeconds * 1000, clock.nowMs());
      return r && toResult(r, limit);
    },

    /** The canonical limiter key of a client address (RL-04). */
    clientKey,

    /** The id of the active ban on a client key (see clientKey), or null (an in-process lookup). */
    bannedId(ip: string): string | null {
      return blocks.bannedId(ip);
    },

    /**
     * Counts one request of class `cls` to `route` ("METHOD /pattern") from the client key `ip`
     * (clientKey of req.ip) against its limit. A request refused by the window is not counted; on a
     * credential route it is a violation. `ctx` is only called when an audit row is written.
     * Rejects with KvUnavailableError when the store is down (the caller answers 503).
     */
    async hit(o: { cls: LimitedClass; tenant: Tenant | null; route: string; ip: string; ctx: () => AuditContext }): Promise<HitResult> {
      const ip = o.ip;
      const { limit, windowSeconds } = limitFor(o.cls, o.tenant, config);
      if (o.cls === 'credential') {
        const until = blocks.lockedUntil(ip);
        if (until !== null) {
          const wait = secondsUp(until - clock.nowMs());
          return { allowed: false, refusal: 'lockout', limit, remaining: 0, resetSeconds: wait, retryAfter: wait };
        }
      }
      const key = o.cls === 'default' ? defaultBucketKey(o.tenant, o.route, ip) : bucketKey(o.tenant, o.cls, o.route, ip);
      const w = windowSeconds * 1000;
      const now = clock.nowMs();
      let r: SlidingWindowResult;
      // (the hook has tried hitLocal first; here the store is asked, and a lease taken when the bucket is busy)
      if (o.cls === 'default' && local?.leases(limit)) r = await local.ask(key, limit, w, now);
      else r = await kv.slidingWindow(key, limit, w, now);
      const result = toResult(r, limit);
      if (!r.allowed && o.cls === 'credential') {
        const until = await violation(ip, { tenantId: o.tenant?.id ?? null, route: o.route, ctx: o.ctx });
        if (until !== null) {
          result.refusal = 'lockout';
          result.retryAfter = result.resetSeconds = secondsUp(until - clock.nowMs());
        }
      }
      return result;
    },

    /** A page of bans (admin plane), newest first. */
    async listBans(o: { status: BanStatus; limit: number; offset: number }): Promise<{ items: Ban[]; total: number }> {
      return sql.tx(null, (tx) => banStore.list(tx, o));
    },

    /**
     * Lifts an active ban (by id, or by address: an IP in any spelling or the listed form) and clears the
     * address's lockout and history so its traffic flows again. Null when there is no such active ban.
     */
    async liftBan(by: { id: string } | { ip: string }, actor: { type: string; id: string | null }, ctx: AuditContext): Promise<Ban | null> {
      const target = 'id' in by ? by : { ip: by.ip.endsWith('/64') ? by.ip.toLowerCase() : clientKey(by.ip) };
      const ban = await sql.tx(null, (tx) => banStore.lift(tx, target, { liftedBy: `${actor.type}:${actor.id ?? ''}`, now: clock.now() }));
      if (!ban) return null;
      // The lift is committed: clearing the shared state is best effort (the periodic re-read converges).
      await blocks.unbanned(ban.ip).catch(bestEffort('announcing the lifted ban'));
      await blocks.unlock(ban.ip).catch(bestEffort('clearing the lockout'));
      const k = ipKeys(ban.ip);
      await kv.del(k.violations, k.history).catch(bestEffort('clearing the lockout history'));
      await audit.record({ tenantId: null, actor, action: 'rate_limit.ban_lift', target: ban.ip, outcome: 'success', ...ctx, metadata: { banId: ban.id } });
      return ban;
    },

    /** Re-reads lockouts and bans from the shared stores now (the timers also do this). */
    resync: () => blocks.resync(),
  };
}
