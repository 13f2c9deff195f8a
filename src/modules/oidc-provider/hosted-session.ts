import type { IncomingMessage } from 'node:http';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { interactionPolicy } from './lib.js';

/**
 * The provider's own browser session (cookie `ap_oidc_session`, kept 14 days) stands only while this
 * browser is still signed in to Authplane as the same user: signing out of the hosted pages, a logout,
 * "sign out everywhere", a password change or a disabled account end it for the provider too. Without
 * this, a client could keep getting codes (even silently, prompt=none) for a user who had signed out.
 * The route hands the provider a lookup of the hosted session (the `__Host-ap_access` cookie, checked in
 * the session store, not a cache); the login prompt's extra check below asks for a sign-in when it fails.
 */
export const HOSTED_SESSION = Symbol('apHostedSession');
export type WithHostedSession = IncomingMessage & { [HOSTED_SESSION]?: () => Promise<string | null> };

/** The user id of the live Authplane session behind `accessCookie` in this tenant, or null. */
export async function hostedUserId(deps: Deps, tenantId: string, accessCookie: string | undefined): Promise<string | null> {
  if (!accessCookie || accessCookie.length > 4096) return null;
  try {
    const p = await deps.authenticators.accessToken(accessCookie, { viaCookie: true, fresh: true });
    return p.tenantId === tenantId ? p.userId : null;
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return null;
    throw err;
  }
}

/** oidc-provider's default prompts, with the login prompt also asked when the hosted session has ended. */
export function interactionPolicyWithHostedSession() {
  const { base, Check } = interactionPolicy;
  const policy = base();
  policy.get('login')!.checks.add(new Check('hosted_session_ended', 'End-User authentication is required', 'login_required', async (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    // No provider session: `no_session` asks already. A login just completed by the interaction page: it
    // came from a live hosted session.
    if (!accountId || ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
    const userId = await (ctx.req as WithHostedSession)[HOSTED_SESSION]?.();
    return userId === accountId ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  return policy;
}
