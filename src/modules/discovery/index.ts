import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import type { Config } from '../../config.js';
import type { DiscoveryFragment, ModuleDef } from '../module.js';
import { oauthConfigured } from '../oauth/index.js';

const AuthMethod = z.object({
  id: z.string(),
  name: z.string(),
  endpoints: z.record(z.string(), z.string()).describe('what to call, as "METHOD /path"'),
}).meta({ id: 'AuthMethod' });

/** Cedros AuthConfigResponse (version, basePath, authMethods, apiKeyUsage, links) plus our own parts. */
const Discovery = z.object({
  service: z.literal('authplane'),
  version: z.string(),
  issuer: z.string(),
  basePath: z.string(),
  authMethods: z.array(AuthMethod).describe('one entry per sign-in method enabled on this server'),
  apiKeyUsage: z.object({ header: z.string(), alternative: z.string(), prefix: z.string(), description: z.string() }),
  links: z.object({ openapi: z.string(), jwks: z.string(), docs: z.string() }),
  openapi: z.string(),
  jwksUri: z.string(),
  tenancy: z.record(z.string(), z.unknown()),
  credentials: z.record(z.string(), z.unknown()),
  errors: z.record(z.string(), z.unknown()),
  capabilities: z.record(z.string(), z.unknown()),
}).meta({ id: 'Discovery' });

export const VERSION = '0.2.0';

/** The sign-in methods this server has on, each with the calls that make it up (Cedros authMethods). */
export function authMethods(config: Readonly<Config>): z.infer<typeof AuthMethod>[] {
  const b = config.basePath;
  const methods: z.infer<typeof AuthMethod>[] = [
    { id: 'password', name: 'Email and password', endpoints: { register: `POST ${b}/register`, login: `POST ${b}/login`, mfa: `POST ${b}/login/mfa`, forgot: `POST ${b}/password/forgot`, reset: `POST ${b}/password/reset` } },
    { id: 'instant_link', name: 'Email link (magic link)', endpoints: { request: `POST ${b}/instant-link`, verify: `POST ${b}/instant-link/verify` } },
    { id: 'solana', name: 'Solana wallet (Sign In With Solana)', endpoints: { challenge: `POST ${b}/solana/challenge`, signIn: `POST ${b}/solana` } },
    { id: 'passkey', name: 'Passkey (WebAuthn)', endpoints: { options: `POST ${b}/passkeys/login/options`, verify: `POST ${b}/passkeys/login/verify` } },
  ];
  if (oauthConfigured(config)) {
    methods.push({ id: 'google', name: 'Google / OpenID Connect', endpoints: { start: `GET ${b}/oauth/google?redirect_uri=…`, exchange: `POST ${b}/oauth/exchange` } });
  }
  return methods;
}

/** Builds the agent-facing description: how to pick a tenant, send credentials, read errors, and each capability. */
export function buildDiscovery(deps: Deps, fragments: Record<string, DiscoveryFragment>) {
  const { config } = deps;
  const base = `${config.publicUrl}${config.basePath}`;
  return {
    service: 'authplane' as const,
    version: VERSION,
    issuer: config.publicUrl,
    basePath: config.basePath,
    authMethods: authMethods(config),
    apiKeyUsage: {
      header: 'X-API-Key: ck_…',
      alternative: 'Authorization: Bearer ck_…',
      prefix: 'ck_',
      description: 'A user API key acts as its user, limited by its scopes. Send it in one of the two headers, never both. Validate a key for a resource server with POST ' + `${config.basePath}/api-key/validate {"apiKey"}.`,
    },
    links: { openapi: `${base}/openapi.json`, jwks: `${config.publicUrl}/.well-known/jwks.json`, docs: `${base}/docs` },
    openapi: `${base}/openapi.json`,
    jwksUri: `${config.publicUrl}/.well-known/jwks.json`,
    tenancy: {
      header: 'X-Tenant-ID',
      description: 'Unauthenticated calls choose their tenant with X-Tenant-ID (uuid or slug); without it the tenant "default" is used. Authenticated calls take the tenant from the credential; a disagreeing X-Tenant-ID gives 403 tenant_mismatch.',
    },
    credentials: {
      accessToken: { how: 'Authorization: Bearer <accessToken>', format: 'JWT (typ at+jwt), EdDSA or HS256, 15 min by default', alsoCookie: '__Host-ap_access (browser flows; state changes then need an allowed Origin)' },
      refreshToken: { how: `POST ${config.basePath}/refresh {"refreshToken"}`, rotates: true, alsoCookie: '__Secure-ap_refresh' },
      apiKey: { how: 'Authorization: Bearer ck_… or X-API-Key: ck_…', prefix: 'ck_', note: 'acts as its user, limited by its scopes; never both headers, even with the same value (400 ambiguous_credentials)' },
      adminKey: { how: 'Authorization: Bearer ak_…', prefix: 'ak_', scope: 'admin plane only', create: 'npx authplane create-admin-key --name ops --expires-in-days 90' },
    },
    errors: {
      shape: { error: 'snake_case code', message: 'human sentence', requestId: 'echo of x-request-id' },
      requestId: 'send x-request-id (A-Z a-z 0-9 . _ : -, ≤128 chars) to correlate; every response carries one',
    },
    capabilities: fragments,
  };
}

const plugin: FastifyPluginAsync<{ deps: Deps; fragments: Record<string, DiscoveryFragment>; openapi: () => unknown }> = async (app, { deps, fragments, openapi }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const doc = buildDiscovery(deps, fragments);
  r.get('/discovery', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: { operationId: 'discovery', tags: ['Discovery'], summary: 'How to use this service: methods, credentials, errors, links (for agents).', response: { 200: Discovery } },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return doc;
  });
  r.get('/openapi.json', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: { operationId: 'openapi', tags: ['Discovery'], summary: 'This OpenAPI 3 document (200, application/json).' },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return openapi();
  });
};

export const discoveryModule = (fragments: Record<string, DiscoveryFragment>, openapi: () => unknown): ModuleDef => ({
  name: 'discovery',
  plugin: (app, opts) => plugin(app, { ...opts, fragments, openapi }),
});
