import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses } from '../../http/schemas.js';
import { AuthResponse, MfaRequiredResponse } from '../users/schemas.js';
import { sendSignIn } from '../password/routes.js';
import { STATE_TTL_MS } from './flow-store.js';

/** Binds an authorization request to the browser that started it (login CSRF, SECURITY OA-03). */
export const BINDING_COOKIE = '__Host-ap_oauth';
const cookieOptions = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' as const };

const Param = z.string().max(2048);

const StartQuery = z.object({
  redirect_uri: z.string().min(1).max(2048).describe('one of the tenant\'s redirectUrls, exactly'),
  tenant: z.string().min(1).max(64).optional().describe('tenant uuid or slug, for browser navigations that cannot send X-Tenant-ID'),
}).strict();

// Providers add parameters of their own (Google: scope, authuser, prompt, hd): accepted as single
// strings, never arrays, so a parameter given twice is a 400.
const CallbackQuery = z.object({
  state: Param.optional(),
  code: Param.optional(),
  iss: Param.optional(),
  error: Param.optional(),
  error_description: Param.optional(),
}).catchall(Param);

const ExchangeBody = z.object({
  code: z.string().min(1).max(128).describe('the one-time code from the redirect (single use, 60 seconds)'),
}).strict().meta({ id: 'OAuthExchangeBody' });

export const oauthRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { oauth } = deps.services;
  const base = deps.config.basePath;

  r.get('/oauth/google', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'oauthStart', tags: ['OAuth'], summary: 'Start "Sign in with Google" (or the configured OpenID provider).',
      description: 'Navigate the browser here with ?redirect_uri=<one of the tenant\'s redirectUrls, exact> (and ?tenant=<slug> for a tenant other than default). 302 to the provider with PKCE S256, state and nonce (10 minutes, single use); sets a short-lived __Host-ap_oauth cookie binding the attempt to this browser. After the provider, the browser lands on redirect_uri?code=<one-time code>; POST that code to /oauth/exchange. 404 not_found when OAuth is not configured.',
      querystring: StartQuery,
      response: { 302: z.undefined().describe('to the provider'), ...errorResponses(400, 404, 429, 503) },
    },
  }, async (req, reply) => {
    let tenant = req.tenant!;
    if (req.query.tenant) {
      const named = await deps.tenants.resolve(req.query.tenant);
      if (!named) throw new AppError('not_found', 'Unknown tenant in the tenant parameter.');
      if (req.tenantFromHeader && named.id !== tenant.id) throw new AppError('validation_failed', 'The tenant parameter and the X-Tenant-ID header name different tenants.');
      tenant = named;
    }
    const { location, binding } = await oauth.start(tenant, req.query.redirect_uri);
    reply.setCookie(BINDING_COOKIE, binding, { ...cookieOptions, maxAge: STATE_TTL_MS / 1000 });
    return reply.redirect(location, 302);
  });

  r.get('/oauth/google/callback', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'oauthCallback', tags: ['OAuth'], summary: 'The provider\'s redirect target (not called by apps).',
      description: '302 to the redirect_uri given at the start with ?code=<one-time code> only. Errors: 400 (malformed), 403 (not started in this browser), 401 (unknown, used or expired state; the provider refused; the code exchange, PKCE or ID token did not verify), 409 conflict (an account with this email exists and linking is not safe: the provider did not verify the email, or the local account never verified it).',
      querystring: CallbackQuery,
      response: { 302: z.undefined().describe('to the app with ?code='), ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    },
  }, async (req, reply) => {
    const binding = req.cookies[BINDING_COOKIE];
    if (binding) reply.clearCookie(BINDING_COOKIE, cookieOptions);
    // openid-client re-reads the provider's parameters (iss, state, code) from the URL itself.
    const rawQuery = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    const { location } = await oauth.callback(req.query, rawQuery, binding, auditContext(req));
    return reply.redirect(location, 302);
  });

  r.post('/oauth/exchange', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'oauthExchange', tags: ['OAuth'], summary: 'Trade the one-time code for tokens.',
      description: 'Send {code} from the redirect within 60 seconds (with X-Tenant-ID for a tenant other than default). AuthResponse (amr ["fed"]; isNewUser and apiKey on the first sign-in) or MfaRequiredResponse. The code works once: a second use gets 401 invalid_code and ends the session the first use started.',
      body: ExchangeBody,
      response: { 200: z.union([AuthResponse, MfaRequiredResponse]), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await oauth.exchange(req.tenant!, req.body.code, auditContext(req))));
};
