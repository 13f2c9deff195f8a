import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { AppError } from '../../http/errors.js';
import { errorResponses } from '../../http/schemas.js';
import { EmailLinkRequest, EmailLinkToken, MailAccepted } from '../one-time-tokens/schemas.js';

/** Signed in, the address is the caller's own: `email` may be left out (and may only name that address). */
const VerifyRequestBody = EmailLinkRequest.partial({ email: true }).meta({ id: 'EmailVerifyRequestBody' });

const EmailVerified = z.object({
  verified: z.literal(true),
  email: z.string(),
  accountClaimed: z.boolean().describe('true when the link was used without a session of this account: everything the account had for signing in was removed and its sessions ended'),
  message: z.string().describe('what happened, and how to sign in when the account was claimed'),
}).meta({ id: 'EmailVerified' });

export const emailVerificationRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.emailVerification;

  r.post('/email/verify/request', {
    // A session is optional: signed in, the link goes to the caller's own address (resend).
    config: { auth: 'optional', apiKeys: false, rateLimit: 'credential' },
    schema: {
      operationId: 'requestEmailVerification', tags: ['Email'], summary: 'Mail a link that confirms an address.',
      description: 'Without a session: {email}; always 202 with the same body, whether or not the address has an (unverified) account; the mail leaves in the background. '
        + 'With an access token (Bearer or cookie) the body may be left out: the link goes to the signed-in user\'s own address (202), 409 conflict when it is already verified, 400 when the account has no email or `email` names another address. '
        + 'The link carries a single-use token valid 15 minutes: POST it to /email/verify. At most 5 mails per address in 15 minutes. API keys are refused (403).',
      body: VerifyRequestBody.nullish(),
      response: { 202: MailAccepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const ctx = auditContext(req);
    const body = req.body ?? {};
    if (req.auth?.kind === 'session') {
      return reply.code(202).send(await service.requestForSelf(req.tenant!, req.auth.userId, body, ctx));
    }
    if (!body.email) throw new AppError('validation_failed', 'Send {"email": "…"}, or call with your access token to mail your own address.', { details: [{ path: 'email', message: 'is required' }] });
    return reply.code(202).send(await service.request(req.tenant!, { ...body, email: body.email }, ctx));
  });

  r.post('/email/verify', {
    // A session is optional and decides the outcome: only a live session of the same account keeps its factors.
    config: { auth: 'optional', apiKeys: false, rateLimit: 'credential' },
    schema: {
      operationId: 'verifyEmail', tags: ['Email'], summary: 'Confirm an address with the token from the mail.',
      description: 'Marks the address verified. Send it with the access token (Bearer or cookie) of the account when you have one: '
        + 'then nothing else changes. Without a session of this account the link proves the mailbox but not who registered the '
        + 'address, so the account is claimed: its password, linked providers, passkeys, TOTP, wallet and API keys are removed and '
        + 'every session ends (accountClaimed: true; sign in by magic link or password reset). API keys are refused (403). '
        + '401 invalid_token when the token is unknown, expired, already used or from another tenant (send the X-Tenant-ID the mail was requested with).',
      body: EmailLinkToken,
      response: { 200: EmailVerified, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const sessionUserId = req.auth?.kind === 'session' ? req.auth.userId : null;
    return service.verify(req.tenant!, { token: req.body.token, sessionUserId }, auditContext(req));
  });
};
