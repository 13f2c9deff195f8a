import type { FastifyInstance } from 'fastify';
import type { TenantService } from '../modules/tenants/service.js';

/** Request headers a browser app may send cross-origin (Mcp-Protocol-Version: browser MCP clients of /mcp). */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Tenant-ID', 'X-API-Key', 'Idempotency-Key', 'X-TOTP-Challenge', 'X-Request-Id', 'Mcp-Protocol-Version'].join(', ');
/** Response headers a browser app may read (WWW-Authenticate: an MCP client finds the resource metadata in it). */
const EXPOSED_HEADERS = ['X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy', 'Idempotent-Replayed', 'WWW-Authenticate'].join(', ');
const ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].join(', ');
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * CORS (SECURITY SES-06). An origin is allowed only when it is exactly (string equality with the
 * serialized origin: scheme, host, port) one of some tenant's `settings.allowedOrigins`: a preflight
 * carries no X-Tenant-ID, so the set is the union over tenants (cached in-process ≤ 30 s, dropped on
 * every tenant change; see TenantService.allowedOrigins).
 * - Every response carries `Vary: Origin` (its CORS headers depend on the Origin sent).
 * - An allowed origin is echoed exactly, with `Access-Control-Allow-Credentials: true` and the exposed
 *   headers; `*` is never sent. Any other origin gets no CORS header at all.
 * - An OPTIONS request from an allowed origin is a preflight: answered here with 204, the allowed
 *   methods and headers and a max age, before tenant resolution, rate limiting and the guard (a
 *   preflight carries no credential). Without `Access-Control-Request-Method` it is answered the same,
 *   rather than with an error outside our error shape. Any other OPTIONS request is a 404.
 * Which tenant's data a cookie may reach is decided by the guard's Origin check (checkCookieOrigin), not here.
 *
 * Our own hook rather than @fastify/cors: the plugin resolved its options, its route options (twice) and
 * the Vary header on every request, Origin or not — about 1.4 µs of every request's 27 (measured on
 * /authorize) — where a request without Origin (servers, CLIs, agents) needs one constant header.
 * Registered after the security headers (so a preflight answer carries them) and before the hooks that
 * need a tenant or a credential, so error responses (401, 429…) carry the CORS headers a browser needs.
 */
export function registerCors(app: FastifyInstance, tenants: Pick<TenantService, 'allowedOrigins'>): void {
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return done();
    tenants.allowedOrigins().then((allowed) => {
      if (!allowed.has(origin)) return done();
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-allow-credentials', 'true');
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
      if (req.method !== 'OPTIONS') return done();
      reply.header('access-control-allow-methods', ALLOWED_METHODS);
      reply.header('access-control-allow-headers', ALLOWED_HEADERS);
      reply.header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
      // Answered: `done` is not called, so no later hook or handler runs for the preflight.
      reply.code(204).header('content-length', '0').send();
    // Cannot tell (Postgres down): allow nothing; the request itself then fails on its own terms.
    }, () => done());
  });
}
