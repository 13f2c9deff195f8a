import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import type { TenantService } from '../modules/tenants/service.js';

/** Request headers a browser app may send cross-origin (Mcp-Protocol-Version: browser MCP clients of /mcp). */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Tenant-ID', 'X-API-Key', 'Idempotency-Key', 'X-TOTP-Challenge', 'X-Request-Id', 'Mcp-Protocol-Version'];
/** Response headers a browser app may read (WWW-Authenticate: an MCP client finds the resource metadata in it). */
const EXPOSED_HEADERS = ['X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy', 'Idempotent-Replayed', 'WWW-Authenticate'];

/**
 * CORS (SECURITY SES-06). An origin is allowed only when it is exactly (string equality with the
 * serialized origin: scheme, host, port) one of some tenant's `settings.allowedOrigins`: a preflight
 * carries no X-Tenant-ID, so the set is the union over tenants (cached in-process ≤ 30 s, dropped on
 * every tenant change; see TenantService.allowedOrigins). An allowed origin is echoed exactly with
 * `Vary: Origin` and `Access-Control-Allow-Credentials: true`; any other origin gets no CORS header at
 * all, and `*` is never sent. Which tenant's data a cookie may reach is decided by the guard's Origin
 * check (checkCookieOrigin), not here.
 *
 * Registered before tenant resolution and the guard, so a preflight is answered before anything asks
 * it for a tenant or credential, and error responses (401, 429…) carry the headers a browser needs to
 * read them.
 */
export async function registerCors(app: FastifyInstance, tenants: Pick<TenantService, 'allowedOrigins'>): Promise<void> {
  await app.register(cors, {
    origin: (origin, cb) => {
      if (!origin) return cb(null, false);
      tenants.allowedOrigins().then(
        (allowed) => cb(null, allowed.has(origin) ? origin : false),
        // Cannot tell (Postgres down): allow nothing; the request itself then fails on its own terms.
        () => cb(null, false),
      );
    },
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    // An OPTIONS from an allowed origin without Access-Control-Request-Method gets a plain 204 rather than
    // the plugin's text/plain 400, which is not in our error shape (DESIGN §5).
    strictPreflight: false,
    hook: 'onRequest',
  });
}
