import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { ACCESS_COOKIE } from '../../http/credentials.js';
import { Deleted, DELETED, errorResponses, Paging } from '../../http/schemas.js';
import { requireStepUp } from '../../http/step-up.js';
import { toUserBody } from '../users/schemas.js';
import {
  CreateOrgBody, MemberBody, MemberList, MemberParams, OrgBody, OrgIdParam, OrgList, OrgSwitchResponse,
  UpdateMemberBody, UpdateOrgBody,
} from './schemas.js';
import type { GrantClearance } from './access.js';
import { ADMIN_LEVEL_ACTIONS } from './roles.js';
import { callerOf, memberView, orgView, page } from './views.js';

const TAGS = ['Organizations'];
export const READ_ERRORS = [400, 401, 403, 404, 429, 503] as const;
export const WRITE_ERRORS = [400, 401, 403, 404, 409, 413, 415, 422, 429, 503] as const;
/** What the OpenAPI document says about admin-level grants (isAdminLevel), on every route that can make one. */
export const ADMIN_LEVEL_NOTE = `Granting admin-level power — owner, admin, or any role allowing one of ${ADMIN_LEVEL_ACTIONS.join(', ')} — is a sensitive change: TOTP step-up when MFA is on (401 totp_required), refused to API keys (403).`;

/**
 * DESIGN §4, issue 24: a grant of admin-level power (isAdminLevel in ./roles.ts — decided by the permissions
 * granted, never by role names) passes the TOTP gate, which refuses API keys (403). Decided on the request
 * before the service's transaction, so re-saving an admin's roles is gated too (over-asking is safe); the
 * service re-checks on what it reads and refuses (409) a grant that became admin-level in between.
 */
export async function clearAdminGrant(req: FastifyRequest, adminLevel: boolean): Promise<GrantClearance> {
  if (adminLevel) await requireStepUp(req);
  return { adminLevelCleared: adminLevel };
}

/** Orgs and members. API keys need `orgs:read` / `orgs:write`; every org route answers 404 to non-members. */
export const orgRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = () => deps.services.orgs.orgs;

  r.get('/orgs', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'listOrgs', tags: TAGS, summary: 'The organizations the caller belongs to, with the caller\'s roles.',
      querystring: Paging, response: { 200: OrgList, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => page(await svc().list(callerOf(req), req.query), req.query, orgView));

  r.post('/orgs', {
    config: { auth: 'user', scope: 'orgs:write', idempotent: true },
    schema: {
      operationId: 'createOrg', tags: TAGS, summary: 'Create an organization; the caller becomes its owner.',
      description: 'An API key bound to an organization acts only inside it and gets 403 here.',
      body: CreateOrgBody, response: { 200: OrgBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => reply.code(200).send(orgView(await svc().create(callerOf(req), req.body))));

  r.get('/orgs/:org_id', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'getOrg', tags: TAGS, summary: 'One organization (needs org:read; 404 for non-members).',
      params: OrgIdParam, response: { 200: OrgBody, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => orgView(await svc().get(callerOf(req), req.params.org_id)));

  r.patch('/orgs/:org_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'updateOrg', tags: TAGS, summary: 'Rename an organization (needs org:update).',
      description: 'Only `name` may be sent; id, tenantId and createdAt are immutable and refused with 400.',
      params: OrgIdParam, body: UpdateOrgBody, response: { 200: OrgBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req) => orgView(await svc().update(callerOf(req), req.params.org_id, req.body)));

  r.delete('/orgs/:org_id', {
    config: { auth: 'user', scope: 'orgs:write', stepUp: true },
    schema: {
      operationId: 'deleteOrg', tags: TAGS, summary: 'Delete an organization with its members, roles, policies and invites (owners; TOTP step-up when MFA is on).',
      params: OrgIdParam, response: { 200: Deleted, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req) => {
    await svc().delete(callerOf(req), req.params.org_id);
    return DELETED;
  });

  r.post('/orgs/:org_id/switch', {
    config: { auth: 'session' },
    schema: {
      operationId: 'switchOrg', tags: TAGS, summary: 'Make the organization the session\'s active org.',
      description: 'Returns a new access token carrying `org` and `roles`; the session keeps the org for later refreshes. The refresh token is not rotated (keep the one you hold). Decisions always read current memberships, not these claims.',
      params: OrgIdParam, response: { 200: OrgSwitchResponse, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    const r2 = await svc().switchTo(callerOf(req), req.params.org_id);
    reply.header('cache-control', 'no-store');
    // A browser signed in by cookie gets the new token the same way (same attributes as at sign-in).
    if (req.auth?.kind === 'session' && req.auth.viaCookie) {
      reply.setCookie(ACCESS_COOKIE, r2.accessToken, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: r2.expiresIn });
    }
    return { user: toUserBody(r2.user), tokens: { accessToken: r2.accessToken, expiresIn: r2.expiresIn }, orgId: r2.orgId, roles: r2.roles };
  });

  r.get('/orgs/:org_id/members', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'listOrgMembers', tags: TAGS, summary: 'Members with their roles and attributes (needs members:read).',
      params: OrgIdParam, querystring: Paging, response: { 200: MemberList, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => page(await svc().listMembers(callerOf(req), req.params.org_id, req.query), req.query, memberView));

  r.patch('/orgs/:org_id/members/:user_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'updateOrgMember', tags: TAGS, summary: 'Replace a member\'s roles and/or attributes (needs members:write).',
      description: `Only owners grant or take away \`owner\`; any other role only by someone holding all its permissions. The last active owner cannot be demoted (409; disabled owners do not count). ${ADMIN_LEVEL_NOTE}`,
      params: MemberParams, body: UpdateMemberBody, response: { 200: MemberBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req) => {
    const c = callerOf(req);
    const roles = req.body.roles;
    const o = await clearAdminGrant(req, roles !== undefined && (await deps.services.orgs.grantsAdminLevel(c, req.params.org_id, roles)));
    return memberView(await svc().updateMember(c, req.params.org_id, req.params.user_id, req.body, o));
  });

  r.delete('/orgs/:org_id/members/:user_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'removeOrgMember', tags: TAGS, summary: 'Remove a member (needs members:delete), or leave (your own user id).',
      description: 'The last active owner can neither leave nor be removed (409; disabled owners do not count).',
      params: MemberParams, response: { 200: Deleted, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req) => {
    await svc().removeMember(callerOf(req), req.params.org_id, req.params.user_id);
    return DELETED;
  });
};
