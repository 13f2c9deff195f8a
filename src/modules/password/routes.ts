import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { setAuthCookies } from '../../http/cookies.js';
import { errorResponses } from '../../http/schemas.js';
import { AuthResponse, Email, MfaRequiredResponse } from '../users/schemas.js';
import type { SignInResult } from '../sessions/sign-in.js';
import { PASSWORD_MAX } from './policy.js';

// The byte bound stops absurd inputs before any hashing; the code-point rules live in policy.ts.
const Password = z.string().min(1, 'is required').max(PASSWORD_MAX * 4, `must be at most ${PASSWORD_MAX} characters`);

export const RegisterBody = z.object({
  email: Email,
  password: Password.describe(`8–${PASSWORD_MAX} characters, any characters; common and breached passwords are refused`),
  name: z.string().trim().min(1).max(200).optional(),
}).strict().meta({ id: 'RegisterBody' });

export const LoginBody = z.object({
  // The same rule and NFKC normalization as at registration, so the lookup matches what was stored.
  email: Email,
  password: Password,
}).strict().meta({ id: 'LoginBody' });

/** Sends a sign-in result: the session's cookies and AuthResponse, or MfaRequiredResponse. */
export function sendSignIn(reply: FastifyReply, basePath: string, r: SignInResult, status = 200) {
  if (r.kind === 'mfa') return reply.code(200).send(r.body);
  setAuthCookies(reply, basePath, r.tokens);
  return reply.code(status).send(r.body);
}

export const passwordRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { password } = deps.services;
  const base = deps.config.basePath;

  r.post('/register', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'register', tags: ['Password'], summary: 'Create a user with email and password and sign in.',
      description: 'Returns AuthResponse (200, as the Cedros spec declares) with tokens, sets the browser cookies, and includes a new API key (shown once) when the tenant issues one on sign-up. 409 email_taken when the email is registered in this tenant.',
      body: RegisterBody,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 403, 404, 409, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await password.register(req.tenant!, req.body, auditContext(req))));

  r.post('/login', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'login', tags: ['Password'], summary: 'Sign in with email and password.',
      description: 'AuthResponse, or MfaRequiredResponse {mfaRequired, mfaToken, userId} when the user has MFA: then POST /auth/login/mfa {mfaToken, code}. Wrong email or password: 401 invalid_credentials (the same for unknown accounts).',
      body: LoginBody,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await password.login(req.tenant!, req.body, auditContext(req))));
};
