import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { EmailLinkToken, MailAccepted } from '../one-time-tokens/schemas.js';
import { ChangeEmailBody, EmailChangeCancelled, EmailChanged } from './schemas.js';

export const emailChangeRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.emailChange;
  const tags = ['Email'];

  r.post('/email/change', {
    config: { auth: 'session', stepUp: true, rateLimit: 'credential' },
    schema: {
      operationId: 'requestEmailChange', tags, summary: 'Ask to change the address of the signed-in user.',
      description: 'Needs an access token (API keys get 403); currentPassword is required for an account with a password (401 invalid_credentials when wrong). '
        + 'Sensitive: a user with MFA and no recent step-up gets 401 totp_required first. Always 202 with the same body, whether or not another account '
        + 'holds the new address. A link valid 1 hour goes to the new address (POST its token to /email/change/confirm); the old address gets a notice '
        + 'with a link valid 72 hours that cancels the change, or undoes it once confirmed (POST its token to /email/change/cancel).',
      body: ChangeEmailBody,
      response: { 202: MailAccepted, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const p = req.auth;
    if (p?.kind !== 'session') throw new AppError('forbidden', 'Changing the email address needs an interactive session.');
    return reply.code(202).send(await service.request(req.tenant!, p, req.body, auditContext(req)));
  });

  r.post('/email/change/confirm', {
    // A session is optional: when it is one of this user's, it stays signed in; every other session ends.
    config: { auth: 'optional', apiKeys: false, rateLimit: 'credential' },
    schema: {
      operationId: 'confirmEmailChange', tags, summary: 'Switch to the new address with the token mailed to it.',
      description: 'Sets the new address (verified) and signs out every session of the user except the caller\'s own when it sends one. '
        + '401 invalid_token for an unknown, expired, used or cancelled token (or another tenant\'s: send the X-Tenant-ID of the request); '
        + '409 email_taken when another account holds the address by now (nothing changes).',
      body: EmailLinkToken,
      response: { 200: EmailChanged, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth;
    const keep = p?.kind === 'session' ? { userId: p.userId, sessionId: p.sessionId } : null;
    return service.confirm(req.tenant!, req.body.token, keep, auditContext(req));
  });

  r.post('/email/change/cancel', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'cancelEmailChange', tags, summary: 'Cancel (or undo) an address change with the token mailed to the old address.',
      description: 'Valid 72 hours. Drops the change if it was not confirmed yet; if it was, puts the old address back and signs out every session. '
        + '401 invalid_token for an unknown, expired or used token; 409 email_taken when the old address now belongs to another account.',
      body: EmailLinkToken,
      response: { 200: EmailChangeCancelled, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
    },
  }, async (req) => service.cancel(req.tenant!, req.body.token, auditContext(req)));
};
