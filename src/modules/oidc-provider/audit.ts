import type Provider from 'oidc-provider';
import type { IncomingMessage } from 'node:http';
import type { Deps } from '../../deps.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';

/** The request facts of the Fastify request a provider call came from (set by the mount, see index.ts). */
export const AUDIT_CONTEXT = Symbol('apAuditContext');
export type WithAuditContext = IncomingMessage & { [AUDIT_CONTEXT]?: AuditContext };

/** The provider routes whose outcome is an audit event, by oidc-provider's route name. */
const AUDITED: Record<string, string> = {
  token: 'oidc.token',
  introspection: 'oidc.introspect',
  revocation: 'oidc.revoke',
  registration: 'oidc.client_register',
  end_session_confirm: 'oidc.logout',
  resume: 'oidc.authorize',
};

/**
 * Writes an audit row for every token, introspection, revocation, registration, logout and finished
 * authorization, before the response leaves (Koa sends after the middleware chain resolves), so a
 * response is not confirmed without its row: when the write fails, the answer becomes a 503.
 */
export function auditProviderEvents(deps: Deps, tenant: Tenant, provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    const action = route ? AUDITED[route] : undefined;
    if (!action) return;
    const req = ctx.req as WithAuditContext;
    const audit = req[AUDIT_CONTEXT] ?? { ip: null, userAgent: null, requestId: null };
    const body = ctx.body as { error?: string } | undefined;
    const ok = ctx.status < 400 && !(route === 'resume' && /[?&#]error=/.test(String(ctx.response.get('location'))));
    const clientId = ctx.oidc.client?.clientId ?? null;
    const accountId = ctx.oidc.session?.accountId ?? ctx.oidc.entities?.Account?.accountId ?? null;
    try {
      await deps.audit.record({
        tenantId: tenant.id,
        actor: accountId && route !== 'token' ? { type: 'user', id: accountId } : { type: 'oauth_client', id: clientId },
        action,
        target: clientId,
        outcome: ok ? 'success' : 'failure',
        ...audit,
        metadata: {
          ...(ctx.oidc.params?.grant_type ? { grantType: ctx.oidc.params.grant_type } : {}),
          ...(accountId ? { accountId } : {}),
          ...(body?.error ? { error: body.error } : {}),
          ...(ctx.oidc.entities?.Grant?.jti ? { grantId: ctx.oidc.entities.Grant.jti } : {}),
        },
      });
    } catch {
      ctx.status = 503;
      ctx.type = 'json';
      ctx.remove('location');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'The audit log could not be written; try again shortly.' };
    }
  });
}
