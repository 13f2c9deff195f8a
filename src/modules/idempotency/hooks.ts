import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { addPreHandler, routeConfigOf } from '../../http/route-config.js';
import { errorResponses } from '../../http/schemas.js';
import { sha256Hex } from '../../lib/crypto.js';
import { clientKey } from '../rate-limit/client-ip.js';
import { randomUUID } from 'node:crypto';
import { observeTransactions, type TxObserver } from '../../db/tx-observer.js';
import type { TenantScope } from '../../db/scope.js';
import type { Tx } from '../../db/sql.js';
import { createIdempotencyStore, type Attempt, type IdempotencyStore } from './store.js';

/** 1–255 visible ASCII characters without `*` (VAL-03): no empty, huge, CRLF-carrying or wildcard keys. */
const KEY_FORMAT = /^[\x21-\x29\x2b-\x7e]{1,255}$/;

/**
 * One run of a keyed request. It observes the request's units of work: each one that wrote something
 * takes the key in Postgres in the same transaction (store.markEffect).
 */
class Run implements TxObserver {
  /** a unit of work of this run wrote the record (it may not have committed) */
  private written = false;
  /** a unit of work that wrote the record committed */
  private committed = false;
  private finished = false;
  end: () => void = () => {};

  constructor(readonly attempt: Attempt, private readonly store: IdempotencyStore) {}

  async beforeCommit(tx: Tx, scope: TenantScope): Promise<void> {
    if (this.finished || this.committed) return;
    if (await this.store.markEffect(tx, scope, this.attempt)) this.written = true;
  }

  afterCommit(): void {
    if (this.written) this.committed = true;
  }

  /** Whether an effect may have been recorded (then an error answer removes the record). */
  get recorded(): boolean {
    return this.written;
  }

  /** The handler has answered: later units of work (the response's own) are not this run's effect. */
  finish(): void {
    this.finished = true;
    this.end();
  }
}

const STATE = Symbol('idempotency');
type WithRun = FastifyRequest & { [STATE]?: Run };

/**
 * Test-only fault points (test/integration/idempotency/crash.test.ts), honoured only when NODE_ENV=test
 * AND AUTHPLANE_TEST_FAULT names one, so no production setting enables them by accident. Each prints a
 * line and then holds the response forever, for the test to kill the process at that point:
 * - `idempotency-hold-before-store`: the effect committed, the response not stored yet;
 * - `idempotency-hold-after-store`: the response stored, not sent, the running claim not released.
 */
const TEST_FAULT = process.env.NODE_ENV === 'test' ? process.env.AUTHPLANE_TEST_FAULT : undefined;
async function testFault(point: 'idempotency-hold-before-store' | 'idempotency-hold-after-store'): Promise<void> {
  if (TEST_FAULT !== point) return;
  process.stdout.write(`authplane-test-fault: ${point}\n`);
  await new Promise(() => {});
}

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
 * - a unit of work of that run which writes something takes the key in Postgres in the same transaction,
 *   so the key runs at most once even when the process dies before the response is stored; a retry then
 *   gets `409 conflict` with `idempotency: "completed"` (the result exists, its response was not kept);
 * - the same key, principal, route and body again → the stored response, `Idempotent-Replayed: true`;
 * - the same key with another body (or params, or query) → `422 idempotency_key_reused`;
 * - the same key while the first is still running → `409 conflict`;
 * - the store down → `503` and the handler does not run (it could otherwise run twice later).
 * Records are keyed by tenant, principal, method, route pattern and key.
 */
export function registerIdempotency(app: FastifyInstance, deps: Deps): void {
  const store = createIdempotencyStore({ kv: deps.kv, sql: deps.sql, clock: deps.clock, authSecret: deps.authSecret });

  // On the routes that declare it (after the TOTP gate's, which is added first); a callback hook: a request
  // without a key (nearly all of them) passes without a promise.
  const claimHook: preHandlerHookHandler = (req, reply, done) => {
    if (req.method !== 'POST') return done();
    const raw = req.headers['idempotency-key'];
    if (raw === undefined) return done();
    // After a replay the reply is sent, and Fastify runs nothing further for the request. A run's handler
    // (which `done` calls) runs observed: its units of work record the key with their effect.
    claim(req, reply, raw).then((run) => {
      if (!run) return done();
      (req as WithRun)[STATE] = run;
      run.end = observeTransactions(run, () => done());
    }, done);
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    if (declaresIdempotency(route)) addPreHandler(route, claimHook);
  });

  async function claim(req: FastifyRequest, reply: FastifyReply, raw: string | string[]): Promise<Run | undefined> {
    if (typeof raw !== 'string' || !KEY_FORMAT.test(raw)) {
      throw new AppError('validation_failed', 'Idempotency-Key must be one header of 1 to 255 visible ASCII characters, without "*".', {
        details: [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters, without "*"' }],
      });
    }
    const tenantId = req.tenant?.id ?? null;
    const digest = sha256Hex([principalOf(req), req.method, routeConfigOf(req).url, raw].join('\n'));
    const key = store.recordKey(tenantId, digest);
    const fp = sha256Hex(canonicalJson({ params: req.params ?? {}, query: req.query ?? {}, body: req.body ?? null }));
    const r = await store.begin(key, fp);
    switch (r.kind) {
      case 'proceed': {
        // Claimed: now what Postgres holds decides (a stored response, or an effect of an earlier run
        // whose claim was lost with its process).
        let found;
        try {
          found = await store.recorded(tenantId, key, fp);
        } catch (err) {
          await store.release(key).catch(() => {});
          throw err;
        }
        if (found.kind === 'none') return new Run({ key, tenantId, fp, id: randomUUID() }, store);
        await store.release(key).catch((err: unknown) => req.log.warn({ err }, 'idempotency: releasing the claim failed'));
        if (found.kind === 'mismatch') return mismatch();
        if (found.kind === 'completed') {
          throw new AppError('conflict', 'A request with this Idempotency-Key was already applied, but its response was not kept '
            + '(the server stopped before answering); it is not run again. Look the result up instead of retrying.', { idempotency: 'completed' });
        }
        return replay(reply, found);
      }
      case 'mismatch':
        return mismatch();
      case 'in_progress':
        throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly.');
      case 'replay':
        return replay(reply, r);
    }
  }

  function mismatch(): never {
    throw new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request; use a new key for a new request.');
  }

  /** Sends the stored response; resolves once it has gone out (a reply is a thenable), so `done` then runs nothing more. */
  async function replay(reply: FastifyReply, r: { status: number; contentType: string | undefined; location: string | undefined; body: string }): Promise<undefined> {
    reply.code(r.status).header('idempotent-replayed', 'true');
    if (r.contentType) reply.header('content-type', r.contentType);
    if (r.location) reply.header('location', r.location);
    await reply.send(r.body);
    return undefined;
  }

  app.addHook('onSend', (req, reply, payload, done) => {
    const run = (req as WithRun)[STATE];
    if (!run) return done(null, payload);
    (req as WithRun)[STATE] = undefined;
    run.finish();
    record(req, reply, run, payload).then(() => done(null, payload), done);
  });

  /** Stores a 2xx/3xx answer with the run's record, or removes the record for a retry; then releases the claim. */
  async function record(req: FastifyRequest, reply: FastifyReply, run: Run, payload: unknown): Promise<void> {
    try {
      if (reply.statusCode < 400 && (payload == null || typeof payload === 'string' || Buffer.isBuffer(payload))) {
        const header = (name: string) => {
          const v = reply.getHeader(name);
          return v === undefined ? undefined : String(v);
        };
        await testFault('idempotency-hold-before-store');
        const stored = await store.storeResponse(run.attempt, {
          status: reply.statusCode, contentType: header('content-type'), location: header('location'), body: payload == null ? '' : payload.toString(),
        });
        if (!stored) req.log.warn('idempotency: another run owns the key; the response was not stored');
        await testFault('idempotency-hold-after-store');
      } else if (run.recorded) {
        await store.dropEffect(run.attempt);
      }
    } catch (err) {
      // The handler has run: its answer goes out. If its effect committed, a retry learns that (409, not run again).
      req.log.warn({ err }, 'idempotency: storing the outcome failed');
    }
    try {
      await store.release(run.attempt.key);
    } catch (err) {
      // The claim then expires after its lease; Postgres still holds the outcome.
      req.log.warn({ err }, 'idempotency: releasing the claim failed');
    }
  }
}
