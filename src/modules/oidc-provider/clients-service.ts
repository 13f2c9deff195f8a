import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { randomToken, sha256Hex } from '../../lib/crypto.js';
import type { AdminPrincipal } from '../../http/principal.js';
import type { AuditContext } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { clientStore, type ClientMetadata, type OidcClientRow } from './client-store.js';
import type { CreateOAuthClientBody, OAuthClient, UpdateOAuthClientBody } from './schemas.js';

const notFound = () => new AppError('not_found', 'No such OAuth client.');

/** The API shape of a stored client (allow-list: no digest, no raw metadata). */
export function toOAuthClient(r: OidcClientRow): OAuthClient {
  const m = r.metadata;
  return {
    clientId: r.client_id,
    tenantId: r.tenant_id,
    name: typeof m.client_name === 'string' ? m.client_name : null,
    type: m.token_endpoint_auth_method === 'none' ? 'public' : 'confidential',
    source: r.source,
    redirectUris: m.redirect_uris ?? [],
    postLogoutRedirectUris: m.post_logout_redirect_uris ?? [],
    scopes: typeof m.scope === 'string' ? m.scope.split(' ').filter(Boolean) : [],
    grantTypes: m.grant_types ?? [],
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/** oidc-provider metadata from the admin plane's fields; refuses combinations the provider would refuse later. */
function metadataOf(o: { name: string; type: 'confidential' | 'public'; redirectUris: string[]; postLogoutRedirectUris: string[]; scopes: string[]; grantTypes: string[] }): ClientMetadata {
  if (o.type === 'public' && o.grantTypes.includes('client_credentials')) {
    throw new AppError('validation_failed', 'A public client cannot use client_credentials.', { details: [{ path: 'body.grantTypes', message: 'client_credentials needs a confidential client' }] });
  }
  if (o.grantTypes.includes('refresh_token') && !o.grantTypes.includes('authorization_code')) {
    throw new AppError('validation_failed', 'refresh_token needs authorization_code.', { details: [{ path: 'body.grantTypes', message: 'refresh_token needs authorization_code' }] });
  }
  const code = o.grantTypes.includes('authorization_code');
  if (code && o.redirectUris.length === 0) {
    throw new AppError('validation_failed', 'A client using authorization_code needs at least one redirect URI.', { details: [{ path: 'body.redirectUris', message: 'at least one redirect URI' }] });
  }
  // oidc-provider's rule: loopback http and private-use schemes are native-app redirects (RFC 8252).
  const native = [...o.redirectUris, ...o.postLogoutRedirectUris].some((u) => !u.startsWith('https:'));
  return {
    client_name: o.name,
    application_type: native ? 'native' : 'web',
    redirect_uris: o.redirectUris,
    post_logout_redirect_uris: o.postLogoutRedirectUris,
    grant_types: o.grantTypes,
    response_types: code ? ['code'] : [],
    token_endpoint_auth_method: o.type === 'public' ? 'none' : 'client_secret_basic',
    scope: o.scopes.join(' '),
  };
}

export type OAuthClientService = ReturnType<typeof createOAuthClientService>;

/** The admin plane's OAuth clients (registered with the tenant's OpenID Provider). Every change is audited. */
export function createOAuthClientService(deps: Pick<Deps, 'sql' | 'clock' | 'audit' | 'tenants'>) {
  const { sql, clock, audit } = deps;

  async function tenantOf(ref: string): Promise<Tenant> {
    const t = await deps.tenants.resolve(ref);
    if (!t) throw new AppError('not_found', 'No such tenant.');
    return t;
  }

  const record = (admin: AdminPrincipal, tenantId: string, action: string, clientId: string, ctx: AuditContext, metadata: Record<string, unknown> = {}) =>
    audit.record({ tenantId, actor: { type: 'admin_key', id: admin.keyId }, action, target: clientId, outcome: 'success', ...ctx, metadata });

  return {
    async create(admin: AdminPrincipal, body: CreateOAuthClientBody, ctx: AuditContext): Promise<OAuthClient & { clientSecret?: string }> {
      const tenant = await tenantOf(body.tenantId);
      const metadata = metadataOf(body);
      const clientId = `oc_${randomToken(16)}`;
      const secret = body.type === 'confidential' ? `ocs_${randomToken(32)}` : undefined;
      const row = await sql.tx(tenant.id, (tx) => clientStore.insert(tx, {
        tenant_id: tenant.id, client_id: clientId, metadata, secret_hash: secret ? sha256Hex(secret) : null, source: 'admin', created_at: clock.now(),
      }));
      await record(admin, tenant.id, 'oauth_client.create', clientId, ctx, { type: body.type, scopes: body.scopes, grantTypes: body.grantTypes });
      return { ...toOAuthClient(row), ...(secret ? { clientSecret: secret } : {}) };
    },

    async list(ref: string, limit: number, offset: number) {
      const tenant = await tenantOf(ref);
      const { items, total } = await sql.tx(tenant.id, (tx) => clientStore.list(tx, tenant.id, limit, offset));
      return { items: items.map(toOAuthClient), total, limit, offset };
    },

    async get(ref: string, clientId: string): Promise<OAuthClient> {
      const tenant = await tenantOf(ref);
      const row = await sql.tx(tenant.id, (tx) => clientStore.get(tx, tenant.id, clientId));
      if (!row) throw notFound();
      return toOAuthClient(row);
    },

    async update(admin: AdminPrincipal, ref: string, clientId: string, body: UpdateOAuthClientBody, ctx: AuditContext): Promise<OAuthClient & { clientSecret?: string }> {
      const tenant = await tenantOf(ref);
      const out = await sql.tx(tenant.id, async (tx) => {
        const row = await clientStore.get(tx, tenant.id, clientId);
        if (!row) throw notFound();
        const cur = toOAuthClient(row);
        if (body.rotateSecret && cur.type === 'public') throw new AppError('validation_failed', 'A public client has no secret to rotate.', { details: [{ path: 'body.rotateSecret', message: 'public clients have no secret' }] });
        const metadata = { ...row.metadata, ...metadataOf({
          name: body.name ?? cur.name ?? clientId, type: cur.type, redirectUris: body.redirectUris ?? cur.redirectUris,
          postLogoutRedirectUris: body.postLogoutRedirectUris ?? cur.postLogoutRedirectUris, scopes: body.scopes ?? cur.scopes, grantTypes: body.grantTypes ?? cur.grantTypes,
        }) };
        const secret = body.rotateSecret ? `ocs_${randomToken(32)}` : undefined;
        const updated = await clientStore.update(tx, tenant.id, clientId, { metadata, ...(secret ? { secretHash: sha256Hex(secret) } : {}), now: clock.now() });
        return { row: updated!, secret };
      });
      await record(admin, tenant.id, 'oauth_client.update', clientId, ctx, { fields: Object.keys(body) });
      return { ...toOAuthClient(out.row), ...(out.secret ? { clientSecret: out.secret } : {}) };
    },

    /** Deletes the client with every grant, code and refresh token it holds. */
    async remove(admin: AdminPrincipal, ref: string, clientId: string, ctx: AuditContext): Promise<void> {
      const tenant = await tenantOf(ref);
      const gone = await sql.tx(tenant.id, (tx) => clientStore.remove(tx, tenant.id, clientId));
      if (!gone) throw notFound();
      await record(admin, tenant.id, 'oauth_client.delete', clientId, ctx);
    },
  };
}
