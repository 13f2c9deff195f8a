import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { isUserPrincipal } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
import { z } from 'zod';
import { UserExport } from './schemas.js';

export const dataExportRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/user/export', {
    config: { auth: 'user', scope: 'user:read' },
    schema: {
      operationId: 'exportUser', tags: ['Sessions'], summary: 'Everything stored about the signed-in user, as JSON.',
      description: 'Access token, or an API key with the user:read scope. Profile, live sessions, API keys (masked), memberships, passkeys, wallets, '
        + 'federated identities, MFA status and the user\'s own audit events. No secret, hash or sealed value is included.',
      querystring: z.object({}).strict(),
      response: { 200: UserExport, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth;
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    return deps.services.dataExport.exportFor(p);
  });
};
