import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import type { AuditContext } from '../audit/service.js';
import { AppError } from '../../http/errors.js';
import { routeConfigOf } from '../../http/route-config.js';
import { errorResponses } from '../../http/schemas.js';
import { clientKey } from './client-ip.js';
import type { LimitedClass } from './limits.js';
import type { HitResult } from './service.js';
import { rateLimitRejections } from '../metrics/registry.js';

const CLIENT_KEY = Symbol('clientKey');

/** The request's canonical client key (RL-04), computed once per request. */
function clientKeyOf(req: FastifyRequest): string {
  const r = req as FastifyRequest & { [CLIENT_KEY]?: string | null };
  return (r[CLIENT_KEY] ??= clientKey(req.ip));
}

/** The one route a banned address may still call (DESIGN §5: health is exempt). */
const healthUrl = (basePath: string) => `${basePath}/health`;

/**
 * The bucket's route label, "METHOD /pattern" (HEAD counts as GET), made once per route and method: the
 * limiter runs on every request, and a label built per request is a new string to hash in every lookup.
 * Bounded by the routes' patterns and the parser's method names.
 */
const routeLabels = new Map<string, Map<string, string>>();
function routeLabel(method: string, url: string): string {
  let byMethod = routeLabels.get(url);
  if (byMethod === undefined) routeLabels.set(url, (byMethod = new Map()));
  let label = byMethod.get(method);
  if (label === undefined) byMethod.set(method, (label = `${method === 'HEAD' ? 'GET' : method} ${url}`));
  return label;
}

/** The audit context of a request, made only if the limiter writes an audit row (a lockout or a ban). */
function auditContextOf(req: FastifyRequest): () => AuditContext {
  return () => auditContext(req);
}

const classOf = (config: { rateLimit?: string } | undefined): LimitedClass | null => {
  const cls = config?.rateLimit ?? 'default';
  return cls === 'none' ? null : (cls as LimitedClass);
};

/**
 * Declares on every route the statuses these hooks add (403 banned everywhere but health; 429 and
 * 503 on limited routes), so the OpenAPI document tells the truth without each module repeating it.
 * Register before any module.
 */
export function declareRateLimitStatuses(app: FastifyInstance, basePath: string): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const extra: Record<number, unknown> = {};
    if (route.url !== healthUrl(basePath)) Object.assign(extra, errorResponses(403));
    if (classOf(route.config as { rateLimit?: string } | undefined)) Object.assign(extra, errorResponses(429, 503));
    const schema = (route.schema ?? {}) as { response?: Record<string | number, unknown> };
    // A new object: a response map may be shared by several routes.
    route.schema = { ...schema, response: { ...extra, ...(schema.response ?? {}) } } as RouteOptions['schema'];
  });
}

/**
 * Refuses banned addresses with `403 banned` on every route but health — before tenant resolution, so
 * no header can make a banned client reach anything else. An in-process lookup: no I/O per request.
 */
export function registerBanCheck(app: FastifyInstance, deps: Deps): void {
  const health = healthUrl(deps.config.basePath);
  const { rateLimit } = deps.services;
  // Declared up front so every request object keeps one shape (Fastify's advice for request state).
  app.decorateRequest(CLIENT_KEY, null);
  app.addHook('onRequest', (req, _reply, done) => {
    if (routeConfigOf(req).url === health || !rateLimit.bannedId(clientKeyOf(req))) return done();
    done(new AppError('banned', 'This address is banned after repeated abuse. Contact the operator of this service to have it lifted.'));
  });
}

/**
 * The limiter hook (after tenant resolution, before the credential guard): counts the request against
 * its route's class and answers `429 rate_limited` with `Retry-After` when over it. Every response of a
 * limited route carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds).
 * The bucket is the route *pattern* (`req.routeOptions.url`), so path spellings and query strings that
 * reach one handler share it (RL-05); HEAD shares GET's bucket. When the store is down this throws
 * KvUnavailableError → `503 unavailable`: a limited route never runs unlimited.
 */
export function registerRateLimit(app: FastifyInstance, deps: Deps): void {
  // The labelled children, taken once (the limiter runs on every limited request).
  const rejections: Record<LimitedClass, Record<'limit' | 'lockout', { inc(): void }>> = {
    credential: { limit: rateLimitRejections.labels('credential', 'limit'), lockout: rateLimitRejections.labels('credential', 'lockout') },
    default: { limit: rateLimitRejections.labels('default', 'limit'), lockout: rateLimitRejections.labels('default', 'lockout') },
  };
  const { rateLimit } = deps.services;
  // A callback hook: an unlimited route (or a 404) passes without a promise.
  app.addHook('onRequest', (req, reply, done) => {
    const config = routeConfigOf(req);
    const url = config.url;
    // No route matched: the 404 handler does no work worth limiting.
    if (!url) return done();
    const cls = classOf(config);
    if (!cls) return done();
    if (cls === 'default') {
      // A warm bucket is decided from this instance's lease: no store call, no promise.
      const r = rateLimit.hitLocal({ tenant: req.tenant, route: routeLabel(req.method, url), ip: clientKeyOf(req) });
      if (r) {
        headers(reply, r);
        if (r.allowed) return done();
        rejections.default.limit.inc();
        return done(refused(req, url, r));
      }
    }
    limit(req, reply, url, cls, done);
  });

  function headers(reply: FastifyReply, r: HitResult): void {
    reply.header('ratelimit-limit', String(r.limit));
    reply.header('ratelimit-remaining', String(r.remaining));
    reply.header('ratelimit-reset', String(r.resetSeconds));
  }

  function refused(req: FastifyRequest, url: string, r: HitResult): AppError {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    req.log.info({ route: `${method} ${url}`, retryAfter: r.retryAfter }, 'rate limited');
    return new AppError('rate_limited', `Too many requests to this route; retry in ${r.retryAfter} seconds.`, { retryAfter: r.retryAfter });
  }

  /** Asks the store (the credential class; a default-class bucket this instance holds no lease for) and ends the hook. */
  function limit(req: FastifyRequest, reply: FastifyReply, url: string, cls: LimitedClass, done: (err?: Error) => void): void {
    rateLimit.hit({ cls, tenant: req.tenant, route: routeLabel(req.method, url), ip: clientKeyOf(req), ctx: auditContextOf(req) })
      .then((r) => done(answer(req, reply, url, cls, r)), done);
  }

  /** Sets the RateLimit headers of a store answer; the error to end the hook with when it refused. */
  function answer(req: FastifyRequest, reply: FastifyReply, url: string, cls: LimitedClass, r: HitResult): AppError | undefined {
    headers(reply, r);
    if (r.allowed) return undefined;
    rejections[cls][r.refusal === 'lockout' ? 'lockout' : 'limit'].inc();
    if (r.refusal === 'lockout') {
      return new AppError('rate_limited', 'Too many refused requests from this address: it is locked out of the sign-in routes for a while.', { retryAfter: r.retryAfter });
    }
    return refused(req, url, r);
  }
}
