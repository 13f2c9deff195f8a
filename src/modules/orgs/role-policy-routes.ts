import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { errorResponses, Paging } from '../../http/schemas.js';
import {
  CreatePolicyBody, CreateRoleBody, OrgIdParam, PolicyBody, PolicyList, PolicyParams, RoleBody, RoleList, RoleParams, UpdateRoleBody,
} from './schemas.js';
import { callerOf, page, policyView } from './views.js';
import { isAdminLevel } from './roles.js';
import { ADMIN_LEVEL_NOTE, clearAdminGrant, READ_ERRORS, WRITE_ERRORS } from './routes.js';

const TAGS = ['Organizations'];

/** Custom roles and ABAC policies of an org. */
export const rolePolicyRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const roles = () => deps.services.orgs.roles;
  const policies = () => deps.services.orgs.policies;

  r.get('/orgs/:org_id/roles', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'listOrgRoles', tags: TAGS, summary: 'Built-in roles (owner, admin, member) and the org\'s custom roles (needs roles:read).',
      params: OrgIdParam, querystring: Paging, response: { 200: RoleList, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => page(await roles().list(callerOf(req), req.params.org_id, req.query), req.query, (x) => x));

  r.post('/orgs/:org_id/roles', {
    config: { auth: 'user', scope: 'orgs:write', idempotent: true },
    schema: {
      operationId: 'createOrgRole', tags: TAGS, summary: 'Create a custom role (needs roles:write).',
      description: `Permissions are \`resource:action\` patterns with \`*\` wildcards. Names are unique per org (case-insensitive) and differ from the built-ins. A role may only carry permissions the caller holds. ${ADMIN_LEVEL_NOTE}`,
      params: OrgIdParam, body: CreateRoleBody, response: { 200: RoleBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    const o = await clearAdminGrant(req, isAdminLevel(req.body.permissions));
    return reply.code(200).send(await roles().create(callerOf(req), req.params.org_id, req.body, o));
  });

  r.patch('/orgs/:org_id/roles/:role_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'updateOrgRole', tags: TAGS, summary: 'Rename or change a custom role (needs roles:write); members follow a rename.',
      description: `New permissions are held to the same rules as at creation. ${ADMIN_LEVEL_NOTE} A rename alone is not gated.`,
      params: RoleParams, body: UpdateRoleBody, response: { 200: RoleBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req) => {
    const o = await clearAdminGrant(req, req.body.permissions !== undefined && isAdminLevel(req.body.permissions));
    return roles().update(callerOf(req), req.params.org_id, req.params.role_id, req.body, o);
  });

  r.delete('/orgs/:org_id/roles/:role_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'deleteOrgRole', tags: TAGS, summary: 'Delete a custom role (needs roles:write); members lose it (one left without roles keeps `member`).',
      params: RoleParams, response: { 204: z.undefined(), ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    await roles().delete(callerOf(req), req.params.org_id, req.params.role_id);
    return reply.code(204).send();
  });

  r.get('/orgs/:org_id/policies', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'listOrgPolicies', tags: TAGS, summary: 'ABAC policies in evaluation order (needs policies:read).',
      params: OrgIdParam, querystring: Paging, response: { 200: PolicyList, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => page(await policies().list(callerOf(req), req.params.org_id, req.query), req.query, policyView));

  r.post('/orgs/:org_id/policies', {
    config: { auth: 'user', scope: 'orgs:write', idempotent: true },
    schema: {
      operationId: 'createOrgPolicy', tags: TAGS, summary: 'Create an ABAC policy (needs policies:write).',
      description: 'Condition tree: {"and":[…]}, {"or":[…]}, {"not":c}, {"<eq|ne|gt|gte|lt|lte|in>":[a,b]}; operands are JSON literals or {"var":"subject.id|subject.email|subject.roles|subject.attributes.<k>|resource.type|resource.id|resource.attributes.<k>|env.time|env.ip"}. Validated on write (400 with the path of each problem). Actions on the org\'s own resources (org, members, roles, policies, invites) are decided by roles only and cannot be named. A policy may only name actions the caller holds.',
      params: OrgIdParam, body: CreatePolicyBody, response: { 200: PolicyBody, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => reply.code(200).send(policyView(await policies().create(callerOf(req), req.params.org_id, req.body))));

  r.delete('/orgs/:org_id/policies/:policy_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'deleteOrgPolicy', tags: TAGS, summary: 'Delete an ABAC policy (needs policies:write).',
      params: PolicyParams, response: { 204: z.undefined(), ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    await policies().delete(callerOf(req), req.params.org_id, req.params.policy_id);
    return reply.code(204).send();
  });
};
