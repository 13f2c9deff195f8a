import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import type { SessionPrincipal, UserPrincipal } from '../../http/principal.js';
import { AuthResponse, MfaRequiredResponse } from '../users/schemas.js';
import { sendSignIn } from '../password/routes.js';
import { SolanaChallenge, SolanaChallengeBody, SolanaSignInBody, SolanaWallet } from './schemas.js';

/** The caller's session; API keys cannot manage sign-in methods. */
function sessionOf(req: FastifyRequest): SessionPrincipal {
  if (req.auth?.kind !== 'session') throw new AppError('forbidden', 'This needs an interactive session; API keys cannot manage sign-in methods.');
  return req.auth;
}

export const solanaRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { solana } = deps.services;
  const base = deps.config.basePath;

  r.post('/solana/challenge', {
    config: { auth: 'optional', rateLimit: 'credential' },
    schema: {
      operationId: 'solanaChallenge', tags: ['Solana'], summary: 'Get a Sign-In-With-Solana message to sign.',
      description: 'Returns {nonce, message, expiresAt} (5 minutes, single use). Sign the exact UTF-8 bytes of `message` with the wallet (signMessage) and send the base58 signature to POST /solana (sign-in) or, with purpose "link" and a session, to POST /solana/link. The message names the domain of PUBLIC_URL, the address, URI, Version 1, Chain ID mainnet, the nonce, Issued At and Expiration Time.',
      body: SolanaChallengeBody,
      response: { 200: SolanaChallenge, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const purpose = req.body.purpose ?? 'signin';
    const principal = purpose === 'link' && req.auth ? sessionOf(req) : null;
    return solana.challenge(req.tenant!, { publicKey: req.body.publicKey, purpose }, principal);
  });

  r.post('/solana', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'solanaSignIn', tags: ['Solana'], summary: 'Sign in with a signed Solana challenge.',
      description: 'Send {publicKey, signature} where signature is the base58 Ed25519 signature (64 bytes) of the message from POST /solana/challenge. Returns AuthResponse (amr ["swk"]), creating the user on the first sign-in (isNewUser, plus apiKey when the tenant issues one), or MfaRequiredResponse for a user with MFA. A replayed, expired or foreign signature: 401 invalid_credentials.',
      body: SolanaSignInBody,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await solana.signIn(req.tenant!, req.body, auditContext(req))));

  r.get('/solana/link', {
    // A key reads the wallet with the profile's scope; linking and unlinking take a session.
    config: { auth: 'user', scope: 'user:read', rateLimit: 'default' },
    schema: {
      operationId: 'getSolanaWallet', tags: ['Solana'], summary: 'The wallet linked to the caller.',
      response: { 200: SolanaWallet, ...errorResponses(401, 403, 429, 503) },
    },
  }, async (req) => solana.wallet(req.tenant!, (req.auth as UserPrincipal).userId));

  r.post('/solana/link', {
    config: { auth: 'session', stepUp: true, rateLimit: 'credential' },
    schema: {
      operationId: 'linkSolanaWallet', tags: ['Solana'], summary: 'Link a wallet to the signed-in account.',
      description: 'First POST /solana/challenge {publicKey, purpose: "link"} with the session, sign the message, then send {publicKey, signature} here. 409 conflict when the wallet belongs to another account or the account already has one.',
      body: SolanaSignInBody,
      response: { 200: SolanaWallet, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req) => solana.link(req.tenant!, sessionOf(req), req.body, auditContext(req)));

  r.delete('/solana/link', {
    config: { auth: 'session', stepUp: true, rateLimit: 'default' },
    schema: {
      operationId: 'unlinkSolanaWallet', tags: ['Solana'], summary: 'Unlink the wallet from the signed-in account.',
      description: '204. Refused with 409 conflict when the wallet is the account\'s only way to sign in; 404 when no wallet is linked.',
      response: { 204: z.undefined(), ...errorResponses(401, 403, 404, 409, 429, 503) },
    },
  }, async (req, reply) => {
    await solana.unlink(req.tenant!, sessionOf(req), auditContext(req));
    return reply.code(204).send();
  });
};
