import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { EmailLinkRequest, EmailLinkToken, MailAccepted } from '../one-time-tokens/schemas.js';

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
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'requestEmailVerification', tags: ['Email'], summary: 'Mail a link that confirms an address.',
      description: 'Always 202 with the same body, whether or not the address has an (unverified) account; the mail leaves in the background. The link carries a single-use token valid 15 minutes: POST it to /email/verify. At most 5 mails per address in 15 minutes.',
      body: EmailLinkRequest,
      response: { 202: MailAccepted, ...errorResponses(400, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => reply.code(202).send(await service.request(req.tenant!, req.body, auditContext(req))));

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
