import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { ACCESS_COOKIE } from '../../http/credentials.js';
import type { SessionPrincipal } from '../../http/principal.js';
import { auditContext } from '../../http/audit-context.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { AssetName, Asset } from './assets.js';
import { html, Html } from './html.js';
import { fill, messagesFor, pickLanguage } from './i18n.js';
import type { Messages } from './messages/en.js';
import { csrfBinding, csrfToken, newNonce } from './security.js';
import { layout } from './views/layout.js';

/** What every page shares, built once when the module starts. */
export interface UiContext {
  deps: Deps;
  /** UI_PATH, e.g. /auth/ui */
  path: string;
  /** the origin of PUBLIC_URL: the only Origin a page form may come from */
  ownOrigin: string;
  csrfKey: Buffer;
  assets: Record<AssetName, Asset>;
}

/**
 * One page request: its tenant, language, messages, CSP nonce, and helpers to build URLs, forms and
 * replies. Handlers get a `Page` and return `page.render(…)` or `page.redirect(…)`.
 */
export class Page {
  readonly lang: string;
  readonly t: Messages;
  readonly nonce: string;
  /** origins added to this response's CSP form-action (a validated redirect_uri a form may end at) */
  readonly formTargets: string[] = [];
  /**
   * This response's Referrer-Policy. Pages with forms need `same-origin` (under `no-referrer` Chromium
   * sends `Origin: null` with their POSTs); a response whose URL carries a token keeps `no-referrer`.
   */
  referrerPolicy: 'same-origin' | 'no-referrer' = 'same-origin';

  constructor(readonly req: FastifyRequest, readonly reply: FastifyReply, readonly ui: UiContext, readonly tenant: Tenant | null) {
    this.lang = pickLanguage(req.headers['accept-language']);
    this.t = messagesFor(this.lang);
    this.nonce = newNonce();
  }

  get deps(): Deps {
    return this.ui.deps;
  }

  /** The tenant (set for every page route; null only on error pages of an unknown tenant). */
  get tenantOrThrow(): Tenant {
    if (!this.tenant) throw new AppError('not_found', 'unknown tenant', { reason: 'unknown_tenant' });
    return this.tenant;
  }

  get ctx(): AuditContext {
    return auditContext(this.req);
  }

  /** `fill` over a message: `p.f(p.t.errors.rateLimited, { seconds: 30 })`. */
  f(template: string, vars: Record<string, string | number>): string {
    return fill(template, vars);
  }

  /**
   * A URL of a page under UI_PATH that keeps the tenant (`?tenant=slug`, omitted for the default tenant)
   * and adds `query` (undefined values skipped).
   */
  url(pagePath: string, query: Record<string, string | undefined> = {}): string {
    const q = new URLSearchParams();
    if (this.tenant && this.tenant.slug !== 'default') q.set('tenant', this.tenant.slug);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
    const s = q.toString();
    return `${this.ui.path}${pagePath}${s ? `?${s}` : ''}`;
  }

  /** The URL of a static asset (content-hashed, long-cached). */
  asset(name: AssetName): string {
    return `${this.ui.path}/assets/${this.ui.assets[name].file}`;
  }

  /** The hidden CSRF field of the form named `form` (check it with `post(…, { form })`). */
  csrf(form: string): Html {
    const binding = csrfBinding(this.req, this.reply);
    const token = csrfToken(this.ui.csrfKey, { binding, tenantId: this.tenant?.id ?? '-', form });
    return html`<input type="hidden" name="_csrf" value="${token}">`;
  }

  /**
   * Sends a whole page: the layout with the tenant's branding around `body`. `scripts` are assets
   * loaded with this response's nonce; `status` defaults to 200.
   */
  render(o: { title: string; body: Html; status?: number; scripts?: AssetName[]; wide?: boolean }): FastifyReply {
    return this.reply.code(o.status ?? 200).type('text/html; charset=utf-8').send(layout(this, o).value);
  }

  /** 303 See Other to a page path (kept in the tenant) or to an already validated absolute URL. */
  redirect(location: string): FastifyReply {
    return this.reply.redirect(location, 303);
  }

  /**
   * The signed-in user of this browser (the `__Host-ap_access` cookie of DESIGN §3, the session the
   * REST routes use), or null. A state-changing request checks the session in the store, not a cache.
   */
  async session(): Promise<SessionPrincipal | null> {
    const token = this.req.cookies?.[ACCESS_COOKIE];
    if (!token || token.length > 4096 || !this.tenant) return null;
    try {
      const p = await this.deps.authenticators.accessToken(token, { viaCookie: true, fresh: this.req.method !== 'GET' && this.req.method !== 'HEAD' });
      return p.tenantId === this.tenant.id ? p : null;
    } catch (err) {
      if (err instanceof AppError) return null;
      throw err;
    }
  }

  /** `session()`, or a redirect to the sign-in page (thrown; the error handler sends it). */
  async requireSession(): Promise<SessionPrincipal> {
    const p = await this.session();
    if (!p) throw new PageRedirect(this.url('/sign-in'));
    return p;
  }
}

/** Thrown to end a page with a 303 (e.g. `requireSession`); the module's error handler sends it. */
export class PageRedirect extends Error {
  constructor(readonly location: string) {
    super('redirect');
    this.name = 'PageRedirect';
  }
}
