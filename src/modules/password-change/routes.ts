import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { PASSWORD_MAX } from '../password/policy.js';
import { NewPassword } from '../password-reset/routes.js';

const ChangePasswordBody = z.object({
  currentPassword: z.string().min(1, 'is required').max(PASSWORD_MAX * 4, `must be at most ${PASSWORD_MAX} characters`),
  newPassword: NewPassword,
}).strict().meta({ id: 'ChangePasswordBody' });

const PasswordChanged = z.object({
  message: z.string(),
  sessionsEnded: z.number().int().describe('how many other sessions of the user were signed out'),
}).meta({ id: 'PasswordChanged' });

export const passwordChangeRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.passwordChange;

  r.post('/password/change', {
    config: { auth: 'session', stepUp: true, rateLimit: 'credential' },
    schema: {
      operationId: 'changePassword', tags: ['Password'], summary: 'Change the password of the signed-in user.',
      description: 'Needs an access token (API keys get 403) and the current password (401 invalid_credentials otherwise). Sensitive: a user with MFA and no recent step-up gets 401 totp_required first. The new password goes through the password policy (400). The current session stays; every other session of the user ends.',
      body: ChangePasswordBody,
      response: { 200: PasswordChanged, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth;
    if (p?.kind !== 'session') throw new AppError('forbidden', 'Changing the password needs an interactive session.');
    return service.change(req.tenant!, p, req.body, auditContext(req));
  });
};
