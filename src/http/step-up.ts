import type { FastifyInstance, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import { addPreHandler } from './route-config.js';
import { AppError } from './errors.js';
import { auditContext } from './audit-context.js';
import { actorOf } from './principal.js';
import { errorResponses } from './schemas.js';
import type { Deps } from '../deps.js';
import { CHALLENGE_RE } from '../modules/mfa/kv-store.js';
import { enforceStepUp } from '../modules/mfa/step-up-rule.js';

export const CHALLENGE_HEADER = 'x-totp-challenge';

// Requests that have passed the gate: a route flagged `stepUp` whose handler also calls
// requireStepUp must not be asked (and spend a challenge) twice.
const passed = new WeakSet<FastifyRequest>();

/**
 * The TOTP gate of DESIGN §4 for the current request; resolves when it may proceed, throws otherwise:
 * - a user API key (or any non-session credential) → 403 forbidden: a key has no session to step up;
 * - a user without MFA → passes, unless the tenant requires MFA of org owners/admins and this user is
 *   one → 403 mfa_enrollment_required;
 * - a session stepped up in the last 5 minutes → passes;
 * - `X-TOTP-Challenge: ch_…` naming a completed challenge bound to this user, session, method and path
 *   → spends it and passes (single use);
 * - otherwise → 401 totp_required with a new challenge: POST <base>/totp/complete {challenge, code}, then
 *   repeat the request with the header.
 * Routes declare `config.stepUp: true` (enforced by registerStepUpGate); handlers with a conditional
 * rule (e.g. a member role change to admin/owner) call this directly.
 */
export async function requireStepUp(req: FastifyRequest): Promise<void> {
  if (passed.has(req)) return;
  const deps: Deps = req.server.deps;
  const p = req.auth;
  const tenant = req.tenant;
  if (!p || !tenant) throw new AppError('unauthorized', 'This route needs a credential: Authorization: Bearer <access token>.');
  if (p.kind !== 'session') {
    await deps.audit.record({ tenantId: tenant.id, actor: actorOf(p), action: 'mfa.step_up_refused', outcome: 'denied', ...auditContext(req), metadata: { method: req.method, path: pathOf(req), credential: p.kind } });
    throw new AppError('forbidden', 'This is a sensitive route: it needs an interactive session that can step up with a TOTP code; API keys cannot call it.');
  }
  const challenge = (): string | undefined => {
    const header = req.headers[CHALLENGE_HEADER];
    if (header !== undefined && (typeof header !== 'string' || !CHALLENGE_RE.test(header))) {
      throw new AppError('validation_failed', 'X-TOTP-Challenge must be one challenge value (ch_…) from a totp_required answer.', { details: [{ path: 'headers.x-totp-challenge', message: 'must be ch_ followed by 43 characters' }] });
    }
    return header;
  };
  const base = deps.config.basePath;
  await enforceStepUp({ gate: deps.services.mfa.gate, audit: deps.audit }, {
    tenant, principal: p, challenge, ctx: auditContext(req), bound: { method: req.method, path: pathOf(req) },
    wording: {
      // Routes are named with AUTH_BASE_PATH: a client (or an agent) follows these sentences literally.
      enroll: `This tenant requires org owners and admins to use MFA: enable it (POST ${base}/mfa/setup, then ${base}/mfa/enable) before calling sensitive routes.`,
      notSteppedUp: 'This is a sensitive route and the session has not confirmed a TOTP code in the last 5 minutes.',
      badChallenge: 'The X-TOTP-Challenge is unknown, expired, already used, not yet completed, or was issued for another session or request.',
      howToRetry: `Send POST ${base}/totp/complete {"challenge","code"} with a current TOTP code, then repeat this request with the header X-TOTP-Challenge: <challenge> (or step up the session for 5 minutes with POST ${base}/mfa/verify {"code"}).`,
    },
  });
  passed.add(req);
}

/** The concrete path a challenge is bound to (the query string is not part of it). */
function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q < 0 ? req.url : req.url.slice(0, q);
}

/**
 * Registers the gate for routes declaring `config.stepUp: true`, as a preHandler: after the credential
 * guard (onRequest) and after body validation, so bad input still answers 400 before any challenge.
 * A gated route must authenticate users: the start fails otherwise.
 */
export function registerStepUpGate(app: FastifyInstance): void {
  const base = app.deps?.config.basePath ?? '/auth';
  const note = `Sensitive (TOTP gate): for a user with MFA whose session has not stepped up in the last 5 minutes this answers 401 {"error":"totp_required","challenge":"ch_…"}; confirm it with POST ${base}/totp/complete {"challenge","code"} and repeat this request with the header X-TOTP-Challenge: ch_… (or step up first with POST ${base}/mfa/verify). API keys (ck_) get 403: a key has no session to step up.`;
  const gate: preHandlerHookHandler = (req, _reply, done) => {
    requireStepUp(req).then(() => done(), done);
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    const c = route.config as { auth?: string; stepUp?: boolean } | undefined;
    if (!c?.stepUp) return;
    if (c.auth !== 'user' && c.auth !== 'session') {
      throw new Error(`route ${route.method} ${route.url} declares stepUp but auth '${c.auth}': the gate needs a user credential`);
    }
    // The OpenAPI document tells agents about the gate on every gated operation (and its statuses).
    const schema = (route.schema ?? {}) as { description?: string; response?: Record<string | number, unknown> };
    route.schema = {
      ...schema,
      description: [schema.description, note].filter(Boolean).join(' '),
      response: { ...errorResponses(401, 403), ...(schema.response ?? {}) },
    } as RouteOptions['schema'];
    addPreHandler(route, gate);
  });
}
