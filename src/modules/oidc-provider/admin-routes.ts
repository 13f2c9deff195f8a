import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { Deleted, DELETED, errorResponses } from '../../http/schemas.js';
import type { AdminPrincipal } from '../../http/principal.js';
import type { ModuleDef } from '../module.js';
import { createOAuthClientService } from './clients-service.js';
import {
  CreatedOAuthClient, CreateOAuthClientBody, OAuthClient, OAuthClientList, OAuthClientListQuery, OAuthClientParams,
  OAuthClientTenantQuery, UpdateOAuthClientBody,
} from './schemas.js';

function admin(req: FastifyRequest): AdminPrincipal {
  if (req.auth?.kind !== 'admin') throw new AppError('forbidden', 'The admin plane accepts admin keys (ak_…) only.');
  return req.auth;
}

/** The admin plane's OAuth clients of a tenant's OpenID Provider (`ak_` keys only). */
const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = createOAuthClientService(deps);
  const tags = ['Admin'];

  r.post('/admin/oauth-clients', {
    config: { auth: 'admin', idempotent: true },
    schema: {
      operationId: 'adminCreateOAuthClient', tags, summary: 'Register an OAuth/OpenID client with a tenant\'s OpenID Provider.',
      description: 'Confidential clients get a secret, shown only in this response (stored as SHA-256). Redirect URIs match exactly.',
      body: CreateOAuthClientBody,
      response: { 201: CreatedOAuthClient, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
    },
  }, async (req, reply) => reply.code(201).send(await svc.create(admin(req), req.body, auditContext(req))));

  r.get('/admin/oauth-clients', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListOAuthClients', tags, summary: 'List the OAuth clients of a tenant (?tenantId= uuid or slug).', querystring: OAuthClientListQuery,
      response: { 200: OAuthClientList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    return svc.list(req.query.tenantId, req.query.limit, req.query.offset);
  });

  r.get('/admin/oauth-clients/:clientId', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminGetOAuthClient', tags, summary: 'One OAuth client (?tenantId= uuid or slug).', params: OAuthClientParams, querystring: OAuthClientTenantQuery,
      response: { 200: OAuthClient, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    return svc.get(req.query.tenantId, req.params.clientId);
  });

  r.patch('/admin/oauth-clients/:clientId', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminUpdateOAuthClient', tags, summary: 'Change an OAuth client; rotateSecret issues a new secret (shown once).',
      params: OAuthClientParams, querystring: OAuthClientTenantQuery, body: UpdateOAuthClientBody,
      response: { 200: CreatedOAuthClient, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => svc.update(admin(req), req.query.tenantId, req.params.clientId, req.body, auditContext(req)));

  r.delete('/admin/oauth-clients/:clientId', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminDeleteOAuthClient', tags, summary: 'Delete an OAuth client with every grant and token issued to it.',
      params: OAuthClientParams, querystring: OAuthClientTenantQuery,
      response: { 200: Deleted, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    await svc.remove(admin(req), req.query.tenantId, req.params.clientId, auditContext(req));
    return DELETED;
  });
};

export const oauthClientsModule: ModuleDef = {
  name: 'oauthClients',
  plugin,
  discovery: (config) => {
    const b = config.basePath;
    return {
      auth: 'Authorization: Bearer ak_… only',
      create: { method: 'POST', path: `${b}/admin/oauth-clients`, body: { tenantId: 'uuid or slug', name: 'string', type: 'confidential | public', redirectUris: ['exact URIs'], 'postLogoutRedirectUris?': ['…'], scopes: ['openid', 'email', 'profile', 'offline_access', 'mcp:read', 'mcp:write'], 'grantTypes?': ['authorization_code', 'refresh_token', 'client_credentials'] }, returns: '201 {clientId, clientSecret (confidential; shown once), …}' },
      list: `GET ${b}/admin/oauth-clients?tenantId&limit&offset`,
      get: `GET ${b}/admin/oauth-clients/{clientId}?tenantId`,
      update: { method: 'PATCH', path: `${b}/admin/oauth-clients/{clientId}?tenantId`, body: 'any of name, redirectUris, postLogoutRedirectUris, scopes, grantTypes, rotateSecret' },
      delete: `DELETE ${b}/admin/oauth-clients/{clientId}?tenantId (revokes its grants and tokens)`,
    };
  },
};
