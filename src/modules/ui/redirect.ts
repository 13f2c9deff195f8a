import { AppError } from '../../http/errors.js';
import type { Page } from './page.js';
import { interactionClientOrigin } from '../oidc-provider/adapter.js';

/**
 * Where a finished sign-in sends the browser: `redirect_uri` when it is exactly one of the tenant's
 * `redirectUrls` (the same exact-match rule as OAuth and the emailed links), else the account page.
 * A `redirect_uri` that is present but not allowed is refused (400), never "fixed up" (open redirect).
 */
export function redirectTarget(p: Page, given: string | undefined): { uri: string | undefined; location: string } {
  if (given === undefined || given === '') return { uri: undefined, location: p.url('/account') };
  if (isOidcInteraction(p, given)) return { uri: given, location: given };
  if (!p.tenantOrThrow.settings.redirectUrls.includes(given)) {
    throw new AppError('validation_failed', 'redirect_uri not allowed', { reason: 'bad_redirect' });
  }
  // A form on this page may end at that origin (Chromium applies form-action to the POST's redirect).
  p.formTargets.push(new URL(given).origin);
  return { uri: given, location: given };
}

/** The `redirect_uri` a page was opened or posted with (query for GET, form field for POST). */
export function givenRedirect(p: Page, body?: Record<string, string>): string | undefined {
  const fromBody = body?.redirect_uri;
  if (fromBody !== undefined) return fromBody;
  const q = (p.req.query as Record<string, unknown> | undefined)?.redirect_uri;
  return typeof q === 'string' ? q : undefined;
}

/**
 * A sign-in started by the OpenID Provider returns to its interaction page: PUBLIC_URL + UI_PATH/oidc/<uid>
 * of this very tenant (see pages/oidc.ts), nothing else on this origin.
 */
/**
 * When `given` is an OpenID Provider interaction, lets this page's forms end at that authorization's client:
 * after sign-in the redirects can run on to the client's redirect_uri (remembered consent), and Chromium
 * applies form-action to each hop. The origin comes from the stored interaction, never from the request.
 */
export async function allowInteractionClient(p: Page, given: string | undefined): Promise<void> {
  if (!given || !isOidcInteraction(p, given)) return;
  const uid = new URL(given).pathname.slice(p.ui.path.length + 6);
  const origin = await interactionClientOrigin(p.deps.kv, p.tenantOrThrow.id, uid);
  if (origin && origin !== 'null' && !p.formTargets.includes(origin)) p.formTargets.push(origin);
}

function isOidcInteraction(p: Page, given: string): boolean {
  let u: URL;
  try { u = new URL(given); } catch { return false; }
  const tenant = p.tenantOrThrow;
  const want = tenant.slug === 'default' ? '' : `?tenant=${encodeURIComponent(tenant.slug)}`;
  return u.origin === p.ui.ownOrigin && u.search === want && !u.hash && !given.includes('#')
    && u.pathname.startsWith(`${p.ui.path}/oidc/`) && /^[A-Za-z0-9_-]{10,64}$/.test(u.pathname.slice(p.ui.path.length + 6));
}
