import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../http/errors.js';
import type { RateLimitClass } from '../../http/route-config.js';
import { Page, PageRedirect, type UiContext } from './page.js';
import { checkFormPost, pageCsp, newNonce } from './security.js';
import { alert, card } from './views/components.js';
import { html } from './html.js';

/** A posted form's fields: strings only (a repeated or non-string field is refused as a bad request). */
export type FormBody = Record<string, string>;

type Handler = (p: Page) => Promise<FastifyReply> | FastifyReply;
type FormHandler = (p: Page, body: FormBody) => Promise<FastifyReply> | FastifyReply;

/**
 * How pages are declared. Every route is hidden from the OpenAPI document, takes its tenant from
 * `?tenant=` and declares its rate-limit class like a REST route: a form uses the class of the API
 * route it stands for (`credential` for anything that takes a secret or sends mail), so it is limited
 * by the same hook, counters and lockouts.
 */
export interface PageRouter {
  get(path: string, handler: Handler, o?: { rateLimit?: RateLimitClass }): void;
  /** A form POST: Origin and the form's CSRF token are checked before `handler` runs. */
  post(path: string, o: { form: string; rateLimit: RateLimitClass }, handler: FormHandler): void;
}

const PAGE = Symbol('page');
type WithPage = FastifyRequest & { [PAGE]?: Page };

const MAX_FIELD = 16 * 1024;

function formBody(raw: unknown): FormBody {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new AppError('validation_failed', 'bad form', { reason: 'bad_form' });
  const out: FormBody = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string' || v.length > MAX_FIELD) throw new AppError('validation_failed', 'bad form', { reason: 'bad_form' });
    out[k] = v;
  }
  return out;
}

/** Parses application/x-www-form-urlencoded bodies (pages only); a repeated field is refused. */
function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    const out: Record<string, string> = Object.create(null);
    for (const [k, v] of new URLSearchParams(body as string)) {
      if (k in out) return done(new AppError('validation_failed', 'repeated form field', { reason: 'bad_form' }), undefined);
      out[k] = v;
    }
    done(null, out);
  });
}

/** The Page of this request, made on first use (error pages and hooks share it). */
export function pageOf(req: FastifyRequest, reply: FastifyReply, ui: UiContext): Page {
  const r = req as WithPage;
  return (r[PAGE] ??= new Page(req, reply, ui, req.tenant));
}

/**
 * Sets up a UI_PATH-prefixed plugin for pages: the form parser, the CSP header with the response's nonce
 * on every response, the HTML error and 404 pages. Returns the router pages are declared with.
 */
export function pageRouter(app: FastifyInstance, ui: UiContext): PageRouter {
  registerFormParser(app);
  app.decorateRequest(PAGE, null);

  app.addHook('onSend', (req, reply, payload, done) => {
    const page = (req as WithPage)[PAGE];
    reply.header('content-security-policy', pageCsp(page?.nonce ?? newNonce(), page?.formTargets));
    // Not the API's no-referrer: under it Chromium sends `Origin: null` with a same-origin form POST, and
    // the CSRF check needs the real origin. same-origin still sends nothing to other sites.
    reply.header('referrer-policy', page?.referrerPolicy ?? 'same-origin');
    done(null, payload);
  });

  app.setErrorHandler((err, req, reply) => renderError(pageOf(req, reply, ui), err));
  app.setNotFoundHandler({ preHandler: undefined }, (req, reply) => renderError(pageOf(req, reply, ui), new AppError('not_found', 'no such page')));

  const base = { auth: 'public' as const, tenantFromQuery: true };
  return {
    get(path, handler, o = {}) {
      app.get(path, { config: { ...base, rateLimit: o.rateLimit ?? 'default' }, schema: { hide: true } }, (req, reply) => handler(pageOf(req, reply, ui)));
    },
    post(path, o, handler) {
      app.post(path, { config: { ...base, rateLimit: o.rateLimit }, schema: { hide: true } }, (req, reply) => {
        const p = pageOf(req, reply, ui);
        const body = formBody(req.body);
        checkFormPost(req, { key: ui.csrfKey, ownOrigin: ui.ownOrigin, tenantId: p.tenant?.id ?? '-', form: o.form, token: body._csrf });
        return handler(p, body);
      });
    },
  };
}

/** The HTML answer for an error: the status of its code, a sentence from the catalog, never a detail. */
export function renderError(p: Page, err: unknown): FastifyReply {
  if (err instanceof PageRedirect) return p.redirect(err.location);
  const t = p.t.errors;
  let status = 500;
  let text = t.generic;
  if (err instanceof AppError) {
    status = err.status;
    const reason = err.fields.reason;
    switch (err.code) {
      case 'not_found': text = reason === 'unknown_tenant' ? t.unknownTenant : t.notFound; break;
      case 'forbidden': text = reason === 'cross_origin' ? t.crossOrigin : reason === 'form_expired' ? t.formExpired : t.forbidden; break;
      case 'banned': text = t.banned; break;
      case 'rate_limited': {
        const seconds = Number(err.fields.retryAfter) || 60;
        p.reply.header('retry-after', String(seconds));
        text = p.f(t.rateLimited, { seconds });
        break;
      }
      case 'validation_failed': text = reason === 'bad_redirect' ? t.badRedirect : t.generic; break;
      case 'unavailable': text = t.unavailable; break;
      default: text = t.generic;
    }
  } else {
    const code = (err as { statusCode?: number } | null)?.statusCode;
    if (typeof code === 'number' && code >= 400 && code < 500) status = code;
    else p.req.log.error({ err }, 'page failed');
  }
  // Shown with the request id so a person can quote it to an operator.
  return p.render({ title: t.title, status, body: card(t.title, html`${alert('error', text)}<p class="muted">${t.requestId}: <span class="mono">${p.req.id}</span></p>`) });
}
