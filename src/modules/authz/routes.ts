import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { isUserPrincipal, type Principal, type UserPrincipal } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
import { AttributeObject } from '../orgs/schemas.js';

const MAX_RESOURCE_ATTRIBUTES_BYTES = 16 * 1024;

export const Action = z.string().max(128)
  .regex(/^[a-z0-9_.-]+(?::[a-z0-9_.-]+)?$/, 'must be a concrete "resource:action" (segments of [a-z0-9_.-], no wildcards)');

const ResourceRef = z.object({
  type: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9_.-]'),
  id: z.string().min(1).max(256).regex(/^[^\s\u0000-\u001f\u007f]+$/, 'must not contain spaces or control characters').optional(),
  attributes: AttributeObject({ maxKeys: 64, maxBytes: MAX_RESOURCE_ATTRIBUTES_BYTES })
    .optional()
    .describe('read by conditions as resource.attributes.<k>; accepted only from an API key with the authz:check scope'),
}).strict();

export const AuthorizeBody = z.object({
  action: Action,
  resource: ResourceRef.optional(),
  orgId: z.uuid().optional().describe('default: the token\'s active org, or the API key\'s org'),
  subjectId: z.uuid().optional().describe('ask about another user of the tenant: API keys with the authz:check scope only'),
}).strict().meta({ id: 'AuthorizeBody' });

export const AuthorizeResponse = z.object({
  allowed: z.boolean(),
  reason: z.string(),
  policyId: z.uuid().optional().describe('the deciding policy, when a policy decided'),
}).meta({ id: 'AuthorizeResponse' });

export const PermissionsBody = z.object({ orgId: z.uuid().optional() }).strict().meta({ id: 'PermissionsBody' });
export const PermissionsResponse = z.object({
  orgId: z.uuid().nullable(),
  roles: z.array(z.string()),
  permissions: z.array(z.string()).describe('permission patterns of the roles (an API key\'s narrowed by its scopes)'),
}).meta({ id: 'PermissionsResponse' });

/**
 * The decision point. Both routes take access tokens and API keys and are not rate limited: resource servers
 * call them on every request they serve, and they check nothing a caller could guess.
 */
export const authzRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const principal = (p: Principal | null): UserPrincipal => {
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    return p;
  };

  r.post('/authorize', {
    config: { auth: 'user', rateLimit: 'none', readOnly: true },
    schema: {
      operationId: 'authorize', tags: ['Authorization'], summary: 'May the subject perform the action (on the resource) in the org?',
      description: 'Explicit deny policy wins; then a role permission; then an allow policy; else denied. A condition reading a missing attribute is indeterminate: an allow does not match, a deny does. Subject (id, email, roles, attributes) and env (time, ip) come from the server; `resource.attributes` and `subjectId` only from an API key with the authz:check scope. An API key asking for itself is also held to its scopes. Actions on the org\'s own resources (org, members, roles, policies, invites) are decided by roles only.',
      body: AuthorizeBody, response: { 200: AuthorizeResponse, ...errorResponses(400, 401, 403, 413, 415, 503) },
    },
  // Not async: a warm decision is returned as a value and sent without a promise.
  }, (req) => deps.services.authz.authorize(principal(req.auth), req.body, { ip: req.ip }));

  r.post('/permissions', {
    config: { auth: 'user', rateLimit: 'none', readOnly: true },
    schema: {
      operationId: 'permissions', tags: ['Authorization'], summary: 'The caller\'s roles and permission patterns in an org.',
      description: 'Without orgId: the token\'s active org (or the API key\'s org); none → {orgId: null, roles: [], permissions: []}. 404 when the caller is not a member.',
      body: PermissionsBody.nullish(), response: { 200: PermissionsResponse, ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
    },
  }, async (req) => deps.services.authz.permissions(principal(req.auth), { orgId: req.body?.orgId }));
};
