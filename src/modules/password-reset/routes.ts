import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { PASSWORD_MAX } from '../password/policy.js';
import { EmailLinkRequest, LinkToken, MailAccepted } from '../one-time-tokens/schemas.js';

// The byte bound stops absurd inputs before any hashing; the code-point rules live in password/policy.ts.
export const NewPassword = z.string().min(1, 'is required').max(PASSWORD_MAX * 4, `must be at most ${PASSWORD_MAX} characters`)
  .describe(`8–${PASSWORD_MAX} characters, any characters; common and breached passwords are refused`);

const ResetPasswordBody = z.object({ token: LinkToken, password: NewPassword }).strict().meta({ id: 'ResetPasswordBody' });

const PasswordResetDone = z.object({ message: z.string() }).meta({ id: 'PasswordResetDone' });

export const passwordResetRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.passwordReset;

  r.post('/password/forgot', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'forgotPassword', tags: ['Password'], summary: 'Mail a password-reset link.',
      description: 'Always 202 with the same body, whether or not the address has an account; the mail leaves in the background. The link carries a single-use token valid 1 hour: POST it with the new password to /password/reset. A new request retires the previous link. At most 5 mails per address in 15 minutes.',
      body: EmailLinkRequest,
      response: { 202: MailAccepted, ...errorResponses(400, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => reply.code(202).send(await service.forgot(req.tenant!, req.body, auditContext(req))));

  r.post('/password/reset', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'resetPassword', tags: ['Password'], summary: 'Set a new password with the token from the reset mail.',
      description: 'Sets the password and signs the user out everywhere; it does not sign in (use /login next, which asks for MFA when enabled). 400 validation_failed when the password is refused (the link stays usable); 401 invalid_token when the token is unknown, expired, already used or from another tenant.',
      body: ResetPasswordBody,
      response: { 200: PasswordResetDone, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req) => service.reset(req.tenant!, req.body, auditContext(req)));
};
