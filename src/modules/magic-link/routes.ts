import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { AuthResponse, MfaRequiredResponse } from '../users/schemas.js';
import { sendSignIn } from '../password/routes.js';
import { EmailLinkRequest, EmailLinkToken, MailAccepted } from '../one-time-tokens/schemas.js';

export const magicLinkRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.magicLink;
  const base = deps.config.basePath;

  r.post('/instant-link', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'requestInstantLink', tags: ['Passwordless'], summary: 'Mail a sign-in link (magic link).',
      description: 'Always 200 (the Cedros spec declares 200) with the same body, whether or not the address has an account. An unknown address gets a sign-up link when the tenant allows it (magicLinkSignup); the account is created when the link is used. The link carries a single-use token valid 15 minutes: POST it to /instant-link/verify. A new request retires the previous link. At most 5 mails per address in 15 minutes.',
      body: EmailLinkRequest,
      response: { 200: MailAccepted, ...errorResponses(400, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => reply.code(200).send(await service.request(req.tenant!, req.body, auditContext(req))));

  r.post('/instant-link/verify', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'verifyInstantLink', tags: ['Passwordless'], summary: 'Sign in with the token from a magic link.',
      description: 'AuthResponse (amr ["email"]; the address becomes verified; isNewUser for a sign-up link) with the browser cookies, or MfaRequiredResponse when the user has MFA: then POST /login/mfa. 401 invalid_token when the token is unknown, expired, already used or from another tenant. If the account existed unverified with a password, that password is removed and its sessions end (someone else may have registered the address).',
      body: EmailLinkToken,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await service.verify(req.tenant!, req.body.token, auditContext(req))));
};
