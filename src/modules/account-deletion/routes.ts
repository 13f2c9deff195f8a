import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses, IdParam } from '../../http/schemas.js';
import { PASSWORD_MAX } from '../password/policy.js';

const DeleteAccountBody = z.object({
  currentPassword: z.string().min(1, 'must not be empty').max(PASSWORD_MAX * 4, `must be at most ${PASSWORD_MAX} characters`).optional()
    .describe('required when the account has a password'),
}).strict().meta({ id: 'DeleteAccountBody' });

const DELETION_EFFECT = 'Every session ends and every API key is revoked at once, on every instance; memberships are removed; the email, name, '
  + 'password, wallet, passkeys, federated identities, TOTP secret and recovery codes and pending emailed links are erased. The user id remains as a '
  + 'pseudonymous tombstone, so the audit log keeps verifying. 409 conflict (naming the org) while the user is the last owner of an org.';

export const accountDeletionRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.accountDeletion;

  r.delete('/user', {
    config: { auth: 'session', stepUp: true, rateLimit: 'credential' },
    schema: {
      operationId: 'deleteUser', tags: ['Sessions'], summary: 'Delete the signed-in user\'s account.',
      description: `Needs an access token (API keys get 403) and, for an account with a password, currentPassword in a JSON body (400 when missing, 401 invalid_credentials when wrong). Sensitive: a user with MFA and no recent step-up gets 401 totp_required first. 204 on success. ${DELETION_EFFECT}`,
      body: DeleteAccountBody.nullish(),
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const p = req.auth;
    if (p?.kind !== 'session') throw new AppError('forbidden', 'Deleting the account needs an interactive session.');
    await service.deleteOwn(p, req.body ?? {}, auditContext(req));
    return reply.code(204).send();
  });

  r.delete('/admin/users/:id', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminDeleteUser', tags: ['Admin'], summary: 'Delete a user (found by id in any tenant).',
      description: `204 on success; 404 when the user is unknown or already deleted. ${DELETION_EFFECT}`,
      params: IdParam('id'),
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    },
  }, async (req, reply) => {
    const p = req.auth;
    if (p?.kind !== 'admin') throw new AppError('forbidden', 'The admin plane accepts admin keys (ak_…) only.');
    const done = await service.deleteByAdmin(p, req.params.id, auditContext(req));
    if (!done) throw new AppError('not_found', 'No such user.');
    return reply.code(204).send();
  });
};
