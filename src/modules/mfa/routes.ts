import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { ACCESS_COOKIE } from '../../http/credentials.js';
import type { SessionPrincipal } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
import { AuthResponse } from '../users/schemas.js';
import { sendSignIn } from '../password/routes.js';
import {
  CodeBody, DisableBody, LoginMfaBody, MfaDisableResponse, MfaEnableResponse, MfaSetupResponse, MfaStatusResponse,
  RecoveryBody, RecoveryCodesResponse, RecoveryStepUpResponse, StepUpResponse, TotpCompleteBody, TotpCompleteResponse,
} from './schemas.js';

// No body, or an empty JSON object; anything else is a 400 (a body without content-type arrives as null).
const NoBody = z.object({}).strict().nullish();
const TAGS = ['MFA'];

/** The session of a route declared `auth: 'session'` (the guard has refused everything else). */
function sessionOf(req: FastifyRequest): SessionPrincipal {
  const p = req.auth;
  if (p?.kind !== 'session') throw new AppError('forbidden', 'This route needs an interactive session; API keys cannot call it.');
  return p;
}

export const mfaRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { mfa } = deps.services;
  const base = deps.config.basePath;

  r.post('/mfa/setup', {
    config: { auth: 'session', rateLimit: 'default' },
    schema: {
      operationId: 'mfaSetup', tags: TAGS, summary: 'Start TOTP enrolment: a new secret, its otpauth URI and QR code.',
      description: 'Nothing is enabled yet: confirm with POST /mfa/enable {code}. Calling it again before enabling replaces the pending secret. While MFA is enabled: 409 conflict (the active secret is never replaced; disable first).',
      body: NoBody,
      response: { 200: MfaSetupResponse, ...errorResponses(400, 401, 403, 409, 415, 429, 503) },
    },
  }, async (req) => mfa.setup(req.tenant!, sessionOf(req), auditContext(req)));

  r.post('/mfa/enable', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'mfaEnable', tags: TAGS, summary: 'Confirm the pending secret with a current code and turn MFA on.',
      description: 'Returns ten single-use recovery codes, shown only this once. Ends the user\'s other sessions. 401 invalid_code for a wrong code; 409 without a pending setup or when already enabled; 429 after 5 wrong codes in 5 minutes.',
      body: CodeBody,
      response: { 200: MfaEnableResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req) => mfa.enable(req.tenant!, sessionOf(req), req.body.code, auditContext(req)));

  r.post('/mfa/disable', {
    config: { auth: 'session', rateLimit: 'credential', stepUp: true },
    schema: {
      operationId: 'mfaDisable', tags: TAGS, summary: 'Turn MFA off (sensitive: TOTP gate, plus a code in the body).',
      description: 'Passes the TOTP gate (below) and needs a TOTP code or a recovery code in the body. A code works once: after stepping up with one code, send the next one (30 s later) or a recovery code. Removes the secret and the recovery codes and ends the user\'s other sessions. 401 invalid_code for a wrong or used code, or when MFA is off.',
      body: DisableBody,
      response: { 200: MfaDisableResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const code = req.body.code;
    return mfa.disable(req.tenant!, sessionOf(req), /^\d{6}$/.test(code) ? { totp: code } : { recoveryCode: code }, auditContext(req));
  });

  r.get('/mfa/status', {
    config: { auth: 'session', rateLimit: 'default' },
    schema: {
      operationId: 'mfaStatus', tags: TAGS, summary: 'Whether MFA is on, and how many recovery codes are left.',
      response: { 200: MfaStatusResponse, ...errorResponses(401, 403, 429, 503) },
    },
  }, async (req) => {
    const p = sessionOf(req);
    return mfa.status(p.tenantId, p.userId);
  });

  /** A browser session (authenticated by cookie) gets the new access token as its cookie too. */
  const stepUpReply = <T extends { accessToken: string; expiresIn: number }>(req: FastifyRequest, reply: FastifyReply, out: T): T => {
    if (sessionOf(req).viaCookie) reply.setCookie(ACCESS_COOKIE, out.accessToken, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: out.expiresIn });
    return out;
  };

  r.post('/mfa/verify', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'mfaVerify', tags: TAGS, summary: 'Step up this session with a TOTP code (5 minutes).',
      description: 'For the next 5 minutes gated routes pass without a challenge. Returns a new access token whose amr contains "otp". 401 invalid_code for a wrong or already used code, or when MFA is off; 429 after 5 wrong codes in 5 minutes.',
      body: CodeBody,
      response: { 200: StepUpResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req, reply) => stepUpReply(req, reply, await mfa.verify(req.tenant!, sessionOf(req), req.body.code, auditContext(req))));

  r.post('/mfa/recovery', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'mfaRecovery', tags: TAGS, summary: 'Step up this session with a recovery code (authenticator lost).',
      description: 'Like /mfa/verify, with one of the recovery codes; the code is used up. Then, for example, disable MFA (with another recovery code) and set it up again. 401 invalid_code for a wrong or used code, or when MFA is off; 429 after 5 wrong codes in 5 minutes.',
      body: RecoveryBody,
      response: { 200: RecoveryStepUpResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (req, reply) => stepUpReply(req, reply, await mfa.recovery(req.tenant!, sessionOf(req), req.body.code, auditContext(req))));

  r.post('/mfa/recovery-codes', {
    config: { auth: 'session', rateLimit: 'default', stepUp: true },
    schema: {
      operationId: 'mfaRegenerateRecoveryCodes', tags: TAGS, summary: 'Replace the recovery codes with ten new ones (sensitive: TOTP gate).',
      description: 'Returns ten new codes, shown this once; the old ones stop working. 409 when MFA is off.',
      body: NoBody,
      response: { 200: RecoveryCodesResponse, ...errorResponses(400, 401, 403, 409, 415, 429, 503) },
    },
  }, async (req) => mfa.regenerateRecoveryCodes(req.tenant!, sessionOf(req), auditContext(req)));

  r.post('/login/mfa', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'loginMfa', tags: TAGS, summary: 'Finish a sign-in that answered mfaRequired.',
      description: 'Send the mfaToken from MfaRequiredResponse (single use, 5 minutes, same tenant) with exactly one of code (6-digit TOTP) or recoveryCode. Returns AuthResponse with tokens whose amr contains "otp"; the new session counts as stepped up for 5 minutes. 401 invalid_code for a wrong code (the mfaToken stays usable); 401 invalid_token for an unknown, expired or used mfaToken (sign in again); 429 after 5 wrong codes in 5 minutes for this user.',
      body: LoginMfaBody,
      response: { 200: AuthResponse, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => sendSignIn(reply, base, await mfa.completeLogin(req.tenant!, req.body, auditContext(req))));

  r.post('/totp/complete', {
    config: { auth: 'session', rateLimit: 'credential' },
    schema: {
      operationId: 'totpComplete', tags: TAGS, summary: 'Confirm a gate challenge (totp_required) with a TOTP code.',
      description: 'A gated route answered 401 {"error":"totp_required","challenge":"ch_…"}. Send that challenge with a current code from the same session, then repeat the original request (same method and path) with the header X-TOTP-Challenge: ch_…. The challenge is single-use, lasts 5 minutes, and authorizes that one request only (it is not a session step-up; use /mfa/verify for that). 401 invalid_code for a wrong code; 401 invalid_token for an unknown, expired or foreign challenge; 409 when already completed.',
      body: TotpCompleteBody,
      response: { 200: TotpCompleteResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
    },
  }, async (req) => mfa.gate.complete(req.tenant!, sessionOf(req), req.body, auditContext(req)));
};
