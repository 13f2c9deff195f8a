import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { addPreHandler, routeConfigOf } from '../../http/route-config.js';
import { errorResponses } from '../../http/schemas.js';
import { sha256Hex } from '../../lib/crypto.js';
import { clientKey } from '../rate-limit/client-ip.js';
import { createIdempotencyStore } from './store.js';

/** 1–255 visible ASCII characters without `*` (VAL-03): no empty, huge, CRLF-carrying or wildcard keys. */
const KEY_FORMAT = /^[\x21-\x29\x2b-\x7e]{1,255}$/;

const STATE = Symbol('idempotency');
interface Claim { key: string; fp: string }
type WithClaim = FastifyRequest & { [STATE]?: Claim };

/** JSON with object keys sorted at every depth, so equal bodies give equal fingerprints whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Who the record belongs to: replays never cross principals (VAL-04). */
function principalOf(req: FastifyRequest): string {
  const p = req.auth;
  switch (p?.kind) {
    case 'session': return `user:${p.userId}`;
    case 'apiKey': return `api_key:${p.keyId}`;
    case 'admin': return `admin_key:${p.keyId}`;
    case 'mcpService': return 'mcp';
    default: return `anonymous:${clientKey(req.ip)}`;
  }
}

const declaresIdempotency = (route: RouteOptions): boolean => Boolean((route.config as { idempotent?: boolean } | undefined)?.idempotent);

/** Declares 409/422 (and 400/503) on idempotent routes for the OpenAPI document. Register before any module. */
export function declareIdempotencyStatuses(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!declaresIdempotency(route)) return;
    const schema = (route.schema ?? {}) as { response?: Record<string | number, unknown>; headers?: unknown };
    route.schema = { ...schema, response: { ...errorResponses(400, 409, 422, 503), ...(schema.response ?? {}) } } as RouteOptions['schema'];
  });
}

/**
 * `Idempotency-Key` on POST routes declaring `config.idempotent` (routes that create things; never
 * sign-in routes, which must not replay tokens). Runs after authentication and body validation:
 * - the first request with a key claims it and runs; a 2xx/3xx response is stored sealed for 24 h;
 *   any other outcome releases the key so a corrected retry can run;
 * - the same key, principal, route and body again → the stored response, `Idempotent-Replayed: true`;
 * - the same key with another body (or params, or query) → `422 idempotency_key_reused`;
 * - the same key while the first is still running → `409 conflict`;
 * - the store down → `503` and the handler does not run (it could otherwise run twice later).
 * Records are keyed by tenant, principal, method, route pattern and key.
 */
export function registerIdempotency(app: FastifyInstance, deps: Deps): void {
  const store = createIdempotencyStore({ kv: deps.kv, clock: deps.clock, authSecret: deps.authSecret });

  // On the routes that declare it (after the TOTP gate's, which is added first); a callback hook: a request
  // without a key (nearly all of them) passes without a promise.
  const claimHook: preHandlerHookHandler = (req, reply, done) => {
    if (req.method !== 'POST') return done();
    const raw = req.headers['idempotency-key'];
    if (raw === undefined) return done();
    // After a replay the reply is sent, and Fastify runs nothing further for the request.
    claim(req, reply, raw).then(() => done(), done);
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    if (declaresIdempotency(route)) addPreHandler(route, claimHook);
  });

  async function claim(req: FastifyRequest, reply: FastifyReply, raw: string | string[]): Promise<unknown> {
    if (typeof raw !== 'string' || !KEY_FORMAT.test(raw)) {
      throw new AppError('validation_failed', 'Idempotency-Key must be one header of 1 to 255 visible ASCII characters, without "*".', {
        details: [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters, without "*"' }],
      });
    }
    const digest = sha256Hex([principalOf(req), req.method, routeConfigOf(req).url, raw].join('\n'));
    const key = store.recordKey(req.tenant?.id ?? null, digest);
    const fp = sha256Hex(canonicalJson({ params: req.params ?? {}, query: req.query ?? {}, body: req.body ?? null }));
    const r = await store.begin(key, fp);
    switch (r.kind) {
      case 'proceed':
        (req as WithClaim)[STATE] = { key, fp };
        return;
      case 'mismatch':
        throw new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request; use a new key for a new request.');
      case 'in_progress':
        throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly.');
      case 'replay':
        reply.code(r.status).header('idempotent-replayed', 'true');
        if (r.contentType) reply.header('content-type', r.contentType);
        if (r.location) reply.header('location', r.location);
        return reply.send(r.body);
    }
  }

  app.addHook('onSend', (req, reply, payload, done) => {
    const claimed = (req as WithClaim)[STATE];
    if (!claimed) return done(null, payload);
    (req as WithClaim)[STATE] = undefined;
    record(req, reply, claimed, payload).then(() => done(null, payload), done);
  });

  /** Stores a 2xx/3xx answer under the claim, or releases the key for a retry. */
  async function record(req: FastifyRequest, reply: FastifyReply, claim: Claim, payload: unknown): Promise<void> {
    try {
      if (reply.statusCode < 400 && (payload == null || typeof payload === 'string' || Buffer.isBuffer(payload))) {
        const header = (name: string) => {
          const v = reply.getHeader(name);
          return v === undefined ? undefined : String(v);
        };
        await store.complete(claim.key, claim.fp, { status: reply.statusCode, contentType: header('content-type'), location: header('location'), body: payload == null ? '' : payload.toString() });
      } else {
        await store.abandon(claim.key);
      }
    } catch (err) {
      // The handler has run: its answer goes out. A retry meets the running marker (409) until its lease ends.
      req.log.warn({ err }, 'idempotency: storing the response failed');
    }
  }
}
