import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import type { ModuleDef } from '../module.js';

const Jwks = z.object({
  keys: z.array(z.object({ kty: z.string(), crv: z.string().optional(), x: z.string().optional(), kid: z.string(), alg: z.string(), use: z.string() })),
}).meta({ id: 'Jwks' });

const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/.well-known/jwks.json', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: {
      operationId: 'jwks', tags: ['Tokens'], summary: 'Public keys that verify access tokens (empty with JWT_ALG=HS256).',
      response: { 200: Jwks },
    },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return deps.services.signingKeys.jwks() as z.infer<typeof Jwks>;
  });
};

export const jwksModule: ModuleDef = {
  name: 'tokens',
  mount: 'root',
  plugin,
  discovery: (config) => ({
    accessTokens: {
      format: `JWT, typ "at+jwt", alg ${config.jwtAlg}, kid in the header`,
      claims: ['iss', 'aud (the tenant audience; default the tenant id)', 'sub', 'tid', 'sid', 'jti', 'iat', 'exp', 'amr', 'org', 'roles'],
      jwks: `${config.publicUrl}/.well-known/jwks.json`,
      note: 'verify with the JWKS, then treat the token as live only while its session is: resource servers that need revocation call GET /auth/user or POST /auth/authorize',
    },
  }),
};
