import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses, IdParam } from '../../http/schemas.js';
import { isUserPrincipal, type UserPrincipal } from '../../http/principal.js';
import type { IssuedApiKey } from './service.js';
import {
  ApiKeyInfo, ApiKeyList, DefaultApiKeyInfo, toDefaultApiKeyInfo, CreateApiKeyBody, CreatedApiKey, EmptyBody, SHOWN_ONCE, toApiKeyInfo,
  ValidateApiKeyBody, ValidateApiKeyResponse,
} from './schemas.js';

const TAGS = ['API keys'];

function user(req: FastifyRequest): UserPrincipal {
  if (!isUserPrincipal(req.auth)) throw new AppError('forbidden', 'This route needs a user credential.');
  return req.auth;
}

const issued = (i: IssuedApiKey) => ({ ...toApiKeyInfo(i.key), apiKey: i.plaintext, message: SHOWN_ONCE });

export const apiKeyRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const keys = deps.services.apiKeys;

  r.get('/user/api-key', {
    config: { auth: 'user', scope: 'api_keys:read' },
    schema: {
      operationId: 'getDefaultApiKey', tags: TAGS, summary: 'The signed-in user\'s default API key, masked (prefix and metadata only).',
      description: 'The full key is shown only when it is issued (sign-up AuthResponse.apiKey or POST /user/api-key/regenerate). 404 when the user has no default key.',
      response: { 200: DefaultApiKeyInfo, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    const key = await keys.getDefault(user(req));
    if (!key) throw new AppError('not_found', 'You have no default API key; POST /user/api-key/regenerate creates one.');
    return toDefaultApiKeyInfo(key);
  });

  r.post('/user/api-key/regenerate', {
    config: { auth: 'user', scope: 'api_keys:write', stepUp: true, idempotent: true, rateLimit: 'credential' },
    schema: {
      operationId: 'regenerateDefaultApiKey', tags: TAGS, summary: 'Replace the default API key: the old one stops working at once; the new one is shown once.',
      description: 'Sensitive (TOTP step-up when MFA is on). Keeps the old key\'s name, scopes and org binding; creates a default key ("*") when there is none.',
      body: EmptyBody.nullish(),
      response: { 200: CreatedApiKey, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
    },
  }, async (req) => issued(await keys.regenerateDefault(user(req), auditContext(req))));

  r.get('/api-keys', {
    config: { auth: 'user', scope: 'api_keys:read' },
    schema: {
      operationId: 'listApiKeys', tags: TAGS, summary: 'The signed-in user\'s API keys (prefix and metadata only, never the key).',
      response: { 200: ApiKeyList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    const items = (await keys.list(user(req))).map(toApiKeyInfo);
    return { items, total: items.length, limit: items.length, offset: 0 };
  });

  r.post('/api-keys', {
    config: { auth: 'user', scope: 'api_keys:write', stepUp: true, idempotent: true, rateLimit: 'credential' },
    schema: {
      operationId: 'createApiKey', tags: TAGS, summary: 'Create an API key for the signed-in user; the key is in this response only.',
      description: 'Sensitive (TOTP step-up when MFA is on). Called with a key, the new key can be no broader than the calling key (403 otherwise), keeps its org binding and expires no later. Scopes under "admin" are refused (403).',
      body: CreateApiKeyBody,
      response: { 201: CreatedApiKey, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
    },
  }, async (req, reply) => reply.code(201).send(issued(await keys.create(user(req), req.body, auditContext(req)))));

  r.delete('/api-keys/:id', {
    config: { auth: 'user', scope: 'api_keys:write', stepUp: true },
    schema: {
      operationId: 'deleteApiKey', tags: TAGS, summary: 'Revoke one of the signed-in user\'s API keys, on every instance at once.',
      params: IdParam('id'),
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req, reply) => {
    if (!(await keys.revoke(user(req), req.params.id, auditContext(req)))) throw new AppError('not_found', 'No such API key.');
    return reply.code(204).send();
  });

  r.post('/api-key/validate', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'validateApiKey', tags: TAGS, summary: 'For resource servers: is this user API key live, and whose is it?',
      description: 'Answers 200 {valid: true, userId, tenantId, scopes, orgId?, expiresAt?} for a live key of the request\'s tenant (X-Tenant-ID, or "default"), and 200 {valid: false} for anything else — unknown, malformed, expired, revoked, a disabled user\'s, or another tenant\'s key — without saying which.',
      body: ValidateApiKeyBody,
      response: { 200: ValidateApiKeyResponse, ...errorResponses(400, 404, 413, 415, 429, 503) },
    },
  }, (req) => keys.validateCached(req.tenant!, req.body.apiKey) ?? keys.validate(req.tenant!, req.body.apiKey));
};
