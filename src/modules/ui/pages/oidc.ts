import type { FastifyReply } from 'fastify';
import type { PageGroup } from '../index.js';
import { html } from '../html.js';
import type { Page } from '../page.js';
import { button, card, form } from '../views/components.js';
import { messagePage } from './finish-sign-in.js';
import { asPublicRequest, interactionPath } from '../../oidc-provider/provider.js';
import { providerFor } from '../../oidc-provider/providers.js';
import { grantStore } from '../../oidc-provider/grant-store.js';
import { freshnessDemand, meetsFreshness, reauthMarks } from '../../oidc-provider/freshness.js';
import { memberStore, orgStore } from '../../orgs/store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The organization an authorization asks for (scope `org` + `org=<id>`): the org when the user is an
 * active member, `undefined` when none is asked for, null when the ask cannot be granted.
 */
async function askedOrg(p: Page, d: Details, userId: string): Promise<{ id: string; name: string } | null | undefined> {
  if (!String(d.params.scope ?? '').split(' ').includes('org')) return undefined;
  const id = typeof d.params.org === 'string' ? d.params.org.toLowerCase() : '';
  if (!UUID.test(id)) return null;
  const tenantId = p.tenantOrThrow.id;
  return p.deps.sql.tx(tenantId, async (tx) => {
    const [org, member] = await Promise.all([orgStore.byId(tx, id), memberStore.get(tx, id, userId)]);
    return org && member && !member.userDisabled ? { id: org.id, name: org.name } : null;
  });
}

type Details = Awaited<ReturnType<ReturnType<typeof providerFor>['provider']['interactionDetails']>>;

const uidOf = (p: Page) => (p.req.params as { uid: string }).uid;

/** The interaction this browser is in (by its interaction cookie, which is scoped to this page's path), or null. */
async function detailsOf(p: Page): Promise<{ details: Details; provider: ReturnType<typeof providerFor>['provider'] } | null> {
  const { provider } = providerFor(p.deps, p.tenantOrThrow);
  asPublicRequest(p.deps.config, p.req.raw);
  try {
    const details = await provider.interactionDetails(p.req.raw, p.reply.raw);
    return details.uid === uidOf(p) ? { details, provider } : null;
  } catch {
    return null; // unknown, expired or another browser's interaction
  }
}

const expired = (p: Page) => messagePage(p, { title: p.t.oidc.title, text: p.t.oidc.expired, kind: 'error', status: 400 });

/** Every scope the client asked for now (OpenID and resource scopes), in a stable order. */
function requestedScopes(d: Details): { scopes: string[]; resources: string[] } {
  const missing = d.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  const scopes = new Set<string>(String(d.params.scope ?? '').split(' ').filter(Boolean));
  for (const v of Object.values(missing.missingResourceScopes ?? {})) for (const s of v) scopes.add(s);
  return { scopes: [...scopes], resources: Object.keys(missing.missingResourceScopes ?? {}) };
}

/**
 * The OpenID Provider's interaction (src/modules/oidc-provider): the provider sends the browser here.
 * Sign-in is the existing sign-in page (every method, MFA) returning to this page; consent is a page of
 * its own listing the client and the scopes; both end with the provider's resume URL.
 */
export const oidcPages: PageGroup = (r, ui) => {
  const { deps } = ui;

  r.get('/oidc/:uid', async (p) => {
    const found = await detailsOf(p);
    if (!found) return expired(p);
    const { details, provider } = found;
    const session = await p.session();
    const here = `${deps.config.publicUrl}${interactionPath(deps.config, p.tenantOrThrow, details.uid)}`;
    if (details.prompt.name === 'login') {
      // The session completes the login when its sign-in is recent enough for the request (prompt=login,
      // max_age); auth_time is that sign-in, not now. Otherwise the user signs in again on the sign-in
      // page (which shows its form to a signed-in browser too), and only a sign-in from then on counts.
      const tenantId = p.tenantOrThrow.id;
      const demand = freshnessDemand(details.params);
      const authTime = session?.authTime ?? null;
      if (session && authTime !== null && meetsFreshness(authTime, demand, await reauthMarks.since(deps.kv, tenantId, details.uid), deps.clock.nowMs())) {
        const to = await provider.interactionResult(p.req.raw, p.reply.raw, {
          login: { accountId: session.userId, amr: session.amr, ts: Math.floor(authTime / 1000), remember: true },
        }, { mergeWithLastSubmission: false });
        return p.redirect(to);
      }
      if (demand.promptLogin || demand.maxAgeMs !== undefined) await reauthMarks.start(deps.kv, tenantId, details.uid, deps.clock.nowMs());
      return p.redirect(p.url('/sign-in', { redirect_uri: here, reauth: session ? '1' : undefined }));
    }
    if (details.prompt.name !== 'consent') return expired(p);
    if (!session) return p.redirect(p.url('/sign-in', { redirect_uri: here }));
    if (session.userId !== details.session?.accountId) {
      return messagePage(p, { title: p.t.oidc.title, text: p.t.oidc.otherAccount, kind: 'error', status: 403 });
    }
    // The consent form's POST is redirected on to the client's redirect_uri: Chromium checks that last hop
    // against the form-action of THIS page (the one holding the form), not of the POST's response.
    p.formTargets.push(new URL(String(details.params.redirect_uri)).origin);
    return consentPage(p, details, session.userId);
  });

  r.post('/oidc/:uid/consent', { form: 'oidc-consent', rateLimit: 'default' }, async (p, body) => {
    const found = await detailsOf(p);
    if (!found || found.details.prompt.name !== 'consent') return expired(p);
    const { details, provider } = found;
    const session = await p.requireSession();
    if (session.userId !== details.session?.accountId) {
      return messagePage(p, { title: p.t.oidc.title, text: p.t.oidc.otherAccount, kind: 'error', status: 403 });
    }
    const clientId = String(details.params.client_id);
    const { scopes } = requestedScopes(details);
    const org = await askedOrg(p, details, session.userId);
    if (org === null) return messagePage(p, { title: p.t.oidc.title, text: p.t.oidc.noOrg, kind: 'error', status: 400 });
    // The redirect that follows this POST ends at the client: Chromium applies form-action to it.
    p.formTargets.push(new URL(String(details.params.redirect_uri)).origin);
    const allow = body.decision === 'allow';
    await deps.audit.record({
      tenantId: p.tenantOrThrow.id, actor: { type: 'user', id: session.userId }, action: 'oidc.consent', target: clientId,
      outcome: allow ? 'success' : 'denied', ...p.ctx, metadata: { scopes, ...(org ? { orgId: org.id } : {}) },
    });
    let to: string;
    if (!allow) {
      to = await provider.interactionResult(p.req.raw, p.reply.raw, { error: 'access_denied', error_description: 'The user denied the request.' }, { mergeWithLastSubmission: true });
    } else {
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined)
        ?? new provider.Grant({ accountId: session.userId, clientId });
      if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, s] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, s.join(' '));
      const grantId = await grant.save();
      await grantStore.setOrg(deps.sql, p.tenantOrThrow.id, grantId, org?.id ?? null);
      to = await provider.interactionResult(p.req.raw, p.reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return p.redirect(to);
  });
};

async function consentPage(p: Page, d: Details, userId: string): Promise<FastifyReply> {
  const t = p.t.oidc;
  const tenant = p.tenantOrThrow;
  const { provider } = providerFor(p.deps, tenant);
  const client = await provider.Client.find(String(d.params.client_id));
  const user = await p.deps.services.users.profile(tenant.id, userId);
  const { scopes, resources } = requestedScopes(d);
  const org = await askedOrg(p, d, userId);
  if (org === null) return messagePage(p, { title: t.title, text: t.noOrg, kind: 'error', status: 400 });
  const labels = t.scopes as Record<string, string>;
  const action = p.url(`/oidc/${d.uid}/consent`);
  return p.render({
    title: t.title,
    body: card(t.title, html`
<p>${p.f(t.intro, { client: client?.clientName ?? String(d.params.client_id), name: tenant.settings.branding?.name ?? tenant.name })}</p>
<p class="muted">${p.f(t.asUser, { user: user?.email ?? user?.name ?? userId })}</p>
<h2>${t.scopesHeading}</h2>
<ul>${scopes.map((s) => html`<li>${labels[s] ?? s}</li>`)}</ul>
${org ? html`<p>${p.f(t.org, { org: org.name })}</p>` : ''}
${resources.map((r) => html`<p class="muted">${p.f(t.resource, { resource: r })}</p>`)}
<div class="stack">
${form(p, { action, name: 'oidc-consent', hidden: { decision: 'allow' }, body: button(t.allow) })}
${form(p, { action, name: 'oidc-consent', hidden: { decision: 'deny' }, body: button(t.deny, { kind: 'secondary' }) })}
</div>`),
  });
}
