import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { HANDOFF_TTL_SECONDS } from './service.js';

const Audience = z.string().min(1, 'is required').max(2048, 'must be at most 2048 characters')
  .describe('an origin such as https://app.example.com, exactly as listed in the tenant\'s allowedOrigins');

const IssueHandoffBody = z.object({ audience: Audience }).strict().meta({ id: 'IssueHandoffBody' });

const HandoffToken = z.object({
  token: z.string().describe('a JWT (typ xd+jwt), single use: hand it to the audience, which verifies it with POST /token/verify'),
  expiresIn: z.number().int().describe(`seconds (${HANDOFF_TTL_SECONDS})`),
}).meta({ id: 'HandoffToken' });

const VerifyHandoffBody = z.object({
  token: z.string().min(1, 'is required').max(4096, 'must be at most 4096 characters'),
  audience: Audience.describe('the origin of the verifying app; must equal the token\'s aud'),
}).strict().meta({ id: 'VerifyHandoffBody' });

const HandoffIdentity = z.object({
  valid: z.literal(true),
  userId: z.uuid(),
  tenantId: z.uuid(),
  claims: z.object({
    iss: z.string(), aud: z.string(), sub: z.string(), tid: z.string(), sid: z.string(), jti: z.string(), iat: z.number().int(), exp: z.number().int(),
  }),
}).meta({ id: 'HandoffIdentity' });

export const crossDomainRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = deps.services.crossDomain;

  r.post('/token/issue', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'issueHandoffToken', tags: ['Cross-domain'], summary: 'Issue a single-use token that carries the signed-in user to another origin.',
      description: 'Needs an access token (API keys get 403: a handoff carries an interactive session). The audience must be exactly one of the tenant\'s allowedOrigins (400 otherwise). The token lives 60 seconds, works once, and only while the issuing session lives.',
      body: IssueHandoffBody,
      response: { 200: HandoffToken, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth;
    if (p?.kind !== 'session') throw new AppError('forbidden', 'Issuing a handoff token needs an interactive session.');
    return service.issue(req.tenant!, p, req.body.audience, auditContext(req));
  });

  r.post('/token/verify', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'verifyHandoffToken', tags: ['Cross-domain'], summary: 'Verify a handoff token once and learn whom it identifies.',
      description: 'Called by the backend of the audience origin, with X-Tenant-ID naming the tenant. 200 {valid: true, userId, tenantId, claims} only for a good token, which is used up; every failure is a 401: invalid_token (signature, type, issuer, audience, tenant, ended session), token_expired, or token_replayed for a second use.',
      body: VerifyHandoffBody,
      response: { 200: HandoffIdentity, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req) => service.verify(req.tenant!, req.body.token, req.body.audience, auditContext(req)));
};
