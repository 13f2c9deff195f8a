import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { isUserPrincipal, type Principal, type UserPrincipal } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
import { AuthorizeBody, AuthorizeResponse, PermissionsBody, PermissionsResponse } from './schemas.js';

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
