import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { errorResponses, Paging } from '../../http/schemas.js';
import { AcceptInviteBody, CreatedInvite, CreateInviteBody, InviteList, InviteParams, OrgBody, OrgIdParam } from './schemas.js';
import { callerOf, inviteView, orgView, page } from './views.js';
import { ADMIN_LEVEL_NOTE, clearAdminGrant, READ_ERRORS, WRITE_ERRORS } from './routes.js';

const TAGS = ['Organizations'];

/** Invitations: created by holders of invites:write, accepted by the invited (verified) address. */
export const inviteRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = () => deps.services.orgs.invites;

  r.get('/orgs/:org_id/invites', {
    config: { auth: 'user', scope: 'orgs:read' },
    schema: {
      operationId: 'listOrgInvites', tags: TAGS, summary: 'Invitations of the organization, newest first (needs invites:read; never the tokens).',
      params: OrgIdParam, querystring: Paging, response: { 200: InviteList, ...errorResponses(...READ_ERRORS) },
    },
  }, async (req) => page(await svc().list(callerOf(req), req.params.org_id, req.query), req.query, inviteView));

  r.post('/orgs/:org_id/invites', {
    config: { auth: 'user', scope: 'orgs:write', idempotent: true },
    schema: {
      operationId: 'createOrgInvite', tags: TAGS, summary: 'Invite an email address with roles (needs invites:write).',
      description: `Mails the invitee a link (PUBLIC_URL, or \`redirectUrl\` when it is one of the tenant's redirectUrls) and returns the token once. Single use, 7 days, bound to the email. A new invite for the same address replaces the open one. Only owners invite owners; other roles only by someone holding all their permissions. ${ADMIN_LEVEL_NOTE}`,
      params: OrgIdParam, body: CreateInviteBody, response: { 200: CreatedInvite, ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    const c = callerOf(req);
    const o = await clearAdminGrant(req, await deps.services.orgs.grantsAdminLevel(c, req.params.org_id, req.body.roles));
    const invite = await svc().create(c, req.params.org_id, req.body, o);
    reply.header('cache-control', 'no-store');
    return reply.code(200).send({ ...inviteView(invite), token: invite.token });
  });

  r.delete('/orgs/:org_id/invites/:invite_id', {
    config: { auth: 'user', scope: 'orgs:write' },
    schema: {
      operationId: 'deleteOrgInvite', tags: TAGS, summary: 'Revoke an invitation (needs invites:write).',
      params: InviteParams, response: { 204: z.undefined(), ...errorResponses(...WRITE_ERRORS) },
    },
  }, async (req, reply) => {
    await svc().delete(callerOf(req), req.params.org_id, req.params.invite_id);
    return reply.code(204).send();
  });

  r.post('/invites/accept', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'acceptOrgInvite', tags: TAGS, summary: 'Join an organization with an invitation token.',
      description: 'Signed in as the invited address, verified. 404 unknown token (or another tenant\'s), 410 used or expired, 403 another email or an unverified one, 409 already a member.',
      body: AcceptInviteBody, response: { 200: OrgBody, ...errorResponses(400, 401, 403, 404, 409, 410, 413, 415, 429, 503) },
    },
  }, async (req) => orgView(await svc().accept(callerOf(req), req.body.token)));
};
