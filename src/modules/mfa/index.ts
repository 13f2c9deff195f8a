import type { ModuleDef } from '../module.js';
import { mfaRoutes } from './routes.js';

export const mfaModule: ModuleDef = {
  name: 'mfa',
  plugin: mfaRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      summary: 'TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s; the current and the previous code are accepted, each code works once), ten single-use recovery codes, MFA at sign-in, and a TOTP gate on sensitive routes.',
      auth: 'Every /mfa/* route and /totp/complete needs the user\'s access token (Authorization: Bearer <accessToken>); API keys (ck_) get 403. /login/mfa is public.',
      enrol: [
        `POST ${b}/mfa/setup → {secret, otpauthUri, qrCodeDataUrl}: show the QR code (or the secret) to the user's authenticator app. Nothing is on yet; 409 if MFA is already on (the secret is never replaced).`,
        `POST ${b}/mfa/enable {"code":"123456"} → {enabled:true, recoveryCodes:[10 codes, shown once], otherSessionsRevoked}.`,
        `GET ${b}/mfa/status → {enabled, recoveryCodesRemaining}.`,
      ],
      signIn: [
        `Any sign-in (POST ${b}/login, magic link, wallet, passkey, OAuth) of a user with MFA answers 200 MfaRequiredResponse {mfaRequired:true, mfaToken, userId} with no tokens and no cookies.`,
        `POST ${b}/login/mfa {"mfaToken","code":"123456"} (or {"mfaToken","recoveryCode":"XXXX-XXXX-XXXX-XXXX"}) → AuthResponse; amr contains "otp" and the session counts as stepped up for 5 minutes.`,
        'The mfaToken is single use, lasts 5 minutes and only works in the tenant that issued it. A wrong code (401 invalid_code) leaves it usable; an expired or used one gives 401 invalid_token: sign in again.',
      ],
      gate: {
        routes: 'Sensitive routes (marked "TOTP gate" in their OpenAPI summary): revoke all sessions, MFA disable, recovery-code renewal, API key create/regenerate/delete, org delete, member role changes to admin/owner, passkey registration, wallet linking, password and email change.',
        steps: [
          'Call the route as usual with the access token.',
          'If the user has MFA and the session has not stepped up in the last 5 minutes: 401 {"error":"totp_required","challenge":"ch_…","message":…}.',
          `POST ${b}/totp/complete {"challenge":"ch_…","code":"123456"} with the same access token → {completed:true, method, path, expiresAt}.`,
          'Repeat the original request (same method and path, same token) with the header X-TOTP-Challenge: ch_… → it runs.',
        ],
        rules: 'A challenge is single use, lasts 5 minutes and is bound to the user, the session, the method and the path; any other use gives 401 totp_required with a new challenge. Completing a challenge authorizes that one request only. An API key (ck_) on a gated route gets 403 forbidden: a key has no session to step up. A tenant with requireMfaForAdmins answers 403 mfa_enrollment_required to holders of admin-level org roles (owner, admin, or a custom role allowing members, roles, policies or invites writes, or org:delete) without MFA.',
        stepUpInstead: `POST ${b}/mfa/verify {"code"} (or ${b}/mfa/recovery {"code":"<recovery code>"}) → {stepUpExpiresAt, accessToken, expiresIn}: for 5 minutes every gated route passes without a challenge; the new access token carries amr "otp".`,
      },
      disable: `POST ${b}/mfa/disable {"code"} (gated): after the gate, send a code not used before — the next TOTP code or a recovery code. Ends the user's other sessions.`,
      recoveryCodes: `POST ${b}/mfa/recovery-codes (gated) → ten new codes; the old ones stop working. Each code works once.`,
      limits: 'Five wrong codes per user in 5 minutes (across all of these routes, tokens and IPs) → 429 rate_limited with retryAfter; then even right codes are refused until the window passes.',
    };
  },
};
