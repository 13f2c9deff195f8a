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
      format: `JWT (compact JWS), header typ "at+jwt", alg ${config.jwtAlg}, kid`,
      lifetime: 'the tenant\'s accessTokenTtlSeconds (default 900 s); refresh before it ends',
      claims: ['iss (PUBLIC_URL)', 'aud (the tenant\'s audience setting; default the tenant id)', 'sub (user id)', 'tid (tenant id)', 'sid (session id)', 'jti', 'iat', 'exp', 'amr (RFC 8176: pwd, otp, swk, hwk, email, fed)', 'org and roles (when an org is active)'],
      jwks: config.jwtAlg === 'EdDSA' ? `${config.publicUrl}/.well-known/jwks.json` : 'none: JWT_ALG=HS256 tokens can only be checked by this service (GET /auth/user)',
      verifyLocally: [
        'Take keys only from the JWKS, by kid; accept alg EdDSA only (never "none", never HS*).',
        'Require typ "at+jwt", iss = this service\'s URL, aud = your tenant\'s audience, exp/nbf with at most a few seconds of leeway (this service allows 30 s).',
        'A valid signature says nothing about revocation: the token is live only while its session is. Resource servers that need logout to take effect at once call GET /auth/user (or POST /auth/authorize).',
      ],
      rotation: 'Keys rotate (authplane rotate-signing-key) without logging anyone out: old keys stay in the JWKS until tokens they signed have expired. Cache the JWKS for at most 5 minutes and refetch on an unknown kid.',
    },
  }),
};
