import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses, IdParam, Paging } from '../../http/schemas.js';
import type { SessionPrincipal, UserPrincipal } from '../../http/principal.js';
import { AuthResponse, MfaRequiredResponse } from '../users/schemas.js';
import { sendSignIn } from '../password/routes.js';
import { toPasskeyBody } from './service.js';
import { AuthenticationCredential, AuthenticationOptions, LoginOptionsBody, PasskeyBody, PasskeyList, RegistrationCredential, RegistrationOptions } from './schemas.js';

const session = (auth: unknown): SessionPrincipal => {
  const p = auth as SessionPrincipal | null;
  if (p?.kind !== 'session') throw new AppError('forbidden', 'This needs an interactive session; API keys cannot manage passkeys.');
  return p;
};

export const passkeyRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { passkeys } = deps.services;
  const base = deps.config.basePath;

  r.post('/passkeys/register/options', {
    config: { auth: 'session', stepUp: true, rateLimit: 'credential' },
    schema: {
      operationId: 'passkeyRegisterOptions', tags: ['Passkeys'], summary: 'Start registering a passkey for the signed-in user.',
      description: 'Returns PublicKeyCredentialCreationOptionsJSON for navigator.credentials.create(). The challenge is single use, expires in 5 minutes and is bound to this session.',
      response: { 200: RegistrationOptions, ...errorResponses(401, 403, 429, 503) },
    },
  }, async (req) => passkeys.registrationOptions(req.tenant!, session(req.auth)));

  r.post('/passkeys/register/verify', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'passkeyRegisterVerify', tags: ['Passkeys'], summary: 'Finish registering a passkey.',
      description: 'Send the PublicKeyCredential JSON from navigator.credentials.create() (id, rawId, type, response {clientDataJSON, attestationObject, transports}), optionally with a "name". 201 with the stored passkey; 400 when anything fails verification (nothing is stored); 409 when the credential is already registered in this tenant.',
      body: RegistrationCredential,
      response: { 201: PasskeyBody, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req, reply) => reply.code(201).send(toPasskeyBody(await passkeys.verifyRegistration(req.tenant!, session(req.auth), req.body, auditContext(req)))));

  r.post('/passkeys/login/options', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'passkeyLoginOptions', tags: ['Passkeys'], summary: 'Start signing in with a passkey.',
      description: 'With {email}: the ceremony is limited to that user\'s passkeys (the answer looks the same whether or not the account exists). Without a body or email: discoverable credentials (the authenticator picks the account). Returns PublicKeyCredentialRequestOptionsJSON for navigator.credentials.get(); the challenge is single use and expires in 5 minutes.',
      body: LoginOptionsBody.optional(),
      response: { 200: AuthenticationOptions, ...errorResponses(400, 404, 413, 415, 429, 503) },
    },
  }, async (req) => passkeys.loginOptions(req.tenant!, { email: req.body?.email }));

  r.post('/passkeys/login/verify', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'passkeyLoginVerify', tags: ['Passkeys'], summary: 'Finish signing in with a passkey.',
      description: 'Send the PublicKeyCredential JSON from navigator.credentials.get() (id, rawId, type, response {clientDataJSON, authenticatorData, signature, userHandle}). AuthResponse (amr ["hwk"] for a device-bound passkey, ["swk"] for a synced one) or MfaRequiredResponse; 401 invalid_credentials for anything that does not verify, including a replay or a signature-counter regression.',
      body: AuthenticationCredential,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await passkeys.verifyLogin(req.tenant!, req.body, auditContext(req))));

  r.get('/passkeys', {
    // A key reads them with the profile's scope; managing passkeys takes a session.
    config: { auth: 'user', scope: 'user:read', rateLimit: 'default' },
    schema: {
      operationId: 'listPasskeys', tags: ['Passkeys'], summary: 'The signed-in user\'s passkeys.',
      querystring: Paging.strict(),
      response: { 200: PasskeyList, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (req) => passkeys.list(req.tenant!, (req.auth as UserPrincipal).userId, req.query));

  r.delete('/passkeys/:id', {
    config: { auth: 'session', stepUp: true, rateLimit: 'default' },
    schema: {
      operationId: 'deletePasskey', tags: ['Passkeys'], summary: 'Remove one of the signed-in user\'s passkeys.',
      description: '204; 404 when the passkey is not the caller\'s; 409 when it is the account\'s only way to sign in.',
      params: IdParam('id'),
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    },
  }, async (req, reply) => {
    await passkeys.remove(req.tenant!, session(req.auth).userId, (req.params as { id: string }).id, auditContext(req));
    return reply.code(204).send();
  });
};
