import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../http/schemas.js';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import type { ModuleDef } from '../module.js';
import { AUDIT_CONTEXT, type WithAuditContext } from './audit.js';
import { HOSTED_SESSION, hostedUserId, type WithHostedSession } from './hosted-session.js';
import { ACCESS_COOKIE } from '../../http/credentials.js';
import { asPublicRequest, issuerOf, mcpResourceOf, OIDC_SCOPES } from './provider.js';
import { providerFor, tenantOfSlug } from './providers.js';
import { DEFAULT_REGISTRATION_REDIRECTS, refusedRedirect } from './redirect-policy.js';

/** oidc-provider's own body limit; bodies are read here (Fastify) and handed over as a Buffer. */
const BODY_LIMIT = 56 * 1024;
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'OPTIONS'] as const;

const SlugParam = z.object({ slug: z.string().min(1).max(63).describe('the tenant slug') });
/** The provider metadata's main members (the document has more; see the OpenID Connect Discovery spec). */
const ProviderMetadata = z.object({
  issuer: z.string(),
  authorization_endpoint: z.string(),
  token_endpoint: z.string(),
  jwks_uri: z.string(),
  userinfo_endpoint: z.string().optional(),
  introspection_endpoint: z.string().optional(),
  revocation_endpoint: z.string().optional(),
  end_session_endpoint: z.string().optional(),
  registration_endpoint: z.string().optional(),
  scopes_supported: z.array(z.string()),
  response_types_supported: z.array(z.string()),
  grant_types_supported: z.array(z.string()),
  code_challenge_methods_supported: z.array(z.string()),
}).passthrough().meta({ id: 'OidcProviderMetadata' });

type RawWithBody = WithAuditContext & WithHostedSession & { body?: Buffer; originalUrl?: string };

/**
 * Mounts each tenant's OpenID Provider (a Koa app) inside Fastify at /oidc/<slug>/…: the route hands the
 * raw request and response to the provider's callback, with the path below the issuer as its URL (the
 * mount path stays in `originalUrl`, which oidc-provider uses to build its endpoint URLs). Fastify reads
 * the body first (as a Buffer, oidc-provider's 56 KiB limit) so the route's rate limit and the dynamic
 * registration policy run before the provider, which then takes the parsed body from `req.body`.
 */
const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const { config } = deps;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));

  async function handOff(req: FastifyRequest, reply: FastifyReply, slug: string, path: string): Promise<void> {
    const tenant = await tenantOfSlug(deps, slug);
    if (path === '/jwks') {
      // The shared key set: every key that still verifies, not only the one this provider signs with.
      reply.header('cache-control', 'public, max-age=300');
      return reply.send(deps.services.signingKeys.jwks());
    }
    const { callback } = providerFor(deps, tenant);
    const raw = req.raw as RawWithBody;
    const search = raw.url!.includes('?') ? raw.url!.slice(raw.url!.indexOf('?')) : '';
    raw.originalUrl = `/oidc/${slug}${path}${search}`;
    raw.url = `${path}${search}`;
    if (Buffer.isBuffer(req.body)) raw.body = req.body;
    raw[AUDIT_CONTEXT] = auditContext(req);
    raw[HOSTED_SESSION] = () => hostedUserId(deps, tenant.id, req.cookies?.[ACCESS_COOKIE]);
    asPublicRequest(config, raw);
    // The headers the hooks set so far (security headers, x-request-id, RateLimit-*) go out with the
    // provider's answer — except the API's CSP (form-action 'none' would break the provider's logout form)
    // and cache-control (the provider sets no-store where it matters, caching where it may).
    for (const [k, v] of Object.entries(reply.getHeaders())) {
      if (v !== undefined && k !== 'content-security-policy' && k !== 'cache-control') reply.raw.setHeader(k, v as string);
    }
    reply.raw.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
    reply.hijack();
    await callback(raw, reply.raw);
  }

  const restOf = (req: FastifyRequest) => `/${(req.params as { '*': string })['*']}`;
  const slugOf = (req: FastifyRequest) => (req.params as { slug: string }).slug;

  app.route({
    method: [...METHODS], url: '/oidc/:slug/*',
    config: { auth: 'public', rateLimit: 'default' }, schema: { hide: true },
    handler: (req, reply) => handOff(req, reply, slugOf(req), restOf(req)),
  });

  // The token endpoint takes client secrets and codes: the credential class, like /login.
  app.post('/oidc/:slug/token', { config: { auth: 'public', rateLimit: 'credential' }, schema: { hide: true } },
    (req, reply) => handOff(req, reply, slugOf(req), '/token'));

  // Dynamic client registration (RFC 7591): rate-limited like sign-ups, redirect URIs checked against the
  // tenant's allow-list before the provider sees the request.
  app.post('/oidc/:slug/reg', { config: { auth: 'public', rateLimit: 'credential' }, schema: { hide: true } }, async (req, reply) => {
    const tenant = await tenantOfSlug(deps, slugOf(req));
    if (tenant.settings.oidcDynamicRegistration === true && Buffer.isBuffer(req.body)) {
      let meta: Record<string, unknown> | null = null;
      try { meta = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>; } catch { /* the provider answers invalid_request */ }
      if (meta && typeof meta === 'object') {
        const refused = refusedRedirect(meta.redirect_uris, tenant.settings.oidcRegistrationRedirects ?? DEFAULT_REGISTRATION_REDIRECTS);
        if (refused !== null) {
          return reply.code(400).send({ error: 'invalid_redirect_uri', error_description: `redirect URI not allowed for dynamic registration at this tenant: ${refused.slice(0, 200)}` });
        }
        const grants = meta.grant_types;
        if (Array.isArray(grants) && grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) {
          return reply.code(400).send({ error: 'invalid_client_metadata', error_description: 'dynamically registered clients may use authorization_code and refresh_token only' });
        }
      }
    }
    return handOff(req, reply, slugOf(req), '/reg');
  });

  // The metadata documents, described in the OpenAPI document (the other provider endpoints are listed in
  // their `description` and in GET /auth/discovery; their bodies are oidc-provider's, form-encoded).
  const r = app.withTypeProvider<ZodTypeProvider>();
  const metadata = (operationId: string, summary: string) => ({
    config: { auth: 'public' as const, rateLimit: 'default' as const },
    schema: {
      operationId, tags: ['OpenID Provider'], summary, params: SlugParam,
      description: `The issuer is PUBLIC_URL/oidc/{slug}. Its endpoints (all under the issuer): /auth (authorization, code + PKCE S256), /token (authorization_code, refresh_token, client_credentials), /userinfo, /jwks (the keys of /.well-known/jwks.json), /token/introspection (RFC 7662), /token/revocation (RFC 7009), /session/end (RP-initiated logout), /reg (RFC 7591, when the tenant enables it). Errors of those endpoints use the OAuth error shape {error, error_description}.`,
      response: { 200: ProviderMetadata, ...errorResponses(404, 429, 503) },
    },
  });
  // RFC 8414 §3: the metadata of issuer https://host/oidc/<slug> lives at /.well-known/oauth-authorization-server/oidc/<slug>.
  r.get('/.well-known/oauth-authorization-server/oidc/:slug', metadata('oidcAuthorizationServerMetadata', 'OAuth 2.0 authorization server metadata (RFC 8414) of a tenant\'s issuer.'),
    (req, reply) => handOff(req, reply, req.params.slug, '/.well-known/openid-configuration'));
  r.get('/oidc/:slug/.well-known/openid-configuration', metadata('oidcDiscovery', 'OpenID Provider metadata (OpenID Connect Discovery) of a tenant\'s issuer.'),
    (req, reply) => handOff(req, reply, req.params.slug, '/.well-known/openid-configuration'));
};

/** Authplane as an OpenID Provider / OAuth 2.1 authorization server, one issuer per tenant (issue 23). */
export const oidcProviderModule: ModuleDef = {
  name: 'oidcProvider',
  mount: 'root',
  plugin,
  discovery: (config) => ({
    issuer: issuerOf(config, '<tenant slug>'),
    discovery: `${issuerOf(config, '<tenant slug>')}/.well-known/openid-configuration`,
    authorizationServerMetadata: `${config.publicUrl}/.well-known/oauth-authorization-server/oidc/<tenant slug>`,
    endpoints: Object.fromEntries(['auth', 'token', 'userinfo', 'jwks', 'token/introspection', 'token/revocation', 'session/end', 'reg']
      .map((e) => [e, `${issuerOf(config, '<tenant slug>')}/${e}`])),
    flows: ['authorization_code with PKCE (S256 only, required for every client)', 'refresh_token (rotated on every use; a reused refresh token revokes the grant)', 'client_credentials (confidential clients)'],
    notSupported: ['implicit', 'password grant', 'PKCE plain'],
    scopes: [...OIDC_SCOPES],
    resources: { [mcpResourceOf(config)]: 'JWT access tokens (typ at+jwt, RFC 9068) signed with the keys of /.well-known/jwks.json; scopes mcp:read, mcp:write' },
    clients: `${config.basePath}/admin/oauth-clients (admin plane); dynamic registration (RFC 7591) at <issuer>/reg when the tenant setting oidcDynamicRegistration is true, redirect URIs limited by oidcRegistrationRedirects (default ${DEFAULT_REGISTRATION_REDIRECTS.join(', ')})`,
    signIn: `the hosted pages (${config.ui.path}/sign-in with every method and MFA), then a consent page; remembered consent is listed and revocable on ${config.ui.path}/account`,
  }),
};
