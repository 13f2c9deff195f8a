import type { ModuleDef } from '../module.js';
import { passwordRoutes } from './routes.js';
import { PASSWORD_MAX, PASSWORD_MIN } from './policy.js';

export const passwordModule: ModuleDef = {
  name: 'password',
  plugin: passwordRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      summary: 'Email + password accounts, one per email per tenant (case-insensitive).',
      register: {
        method: 'POST', path: `${b}/register`,
        body: { email: 'string (an email address)', password: `string (${PASSWORD_MIN}–${PASSWORD_MAX} characters)`, name: 'string? (≤ 200)' },
        returns: '200 AuthResponse {user, tokens:{accessToken, refreshToken, expiresIn}, isNewUser:true, apiKey?} and the browser cookies; 409 email_taken when the email is registered in this tenant.',
      },
      login: {
        method: 'POST', path: `${b}/login`,
        body: { email: 'string', password: 'string' },
        returns: `200 AuthResponse (isNewUser:false) and the browser cookies, or 200 MfaRequiredResponse {mfaRequired:true, mfaToken, userId} → POST ${b}/login/mfa.`,
        failure: '401 invalid_credentials, the same answer (status, body, headers and timing) for an unknown email, a wrong password, a disabled account or an account without a password.',
      },
      passwordRules: `${PASSWORD_MIN} to ${PASSWORD_MAX} Unicode characters, any characters (spaces and emoji welcome), no composition rules; compared after NFKC normalization and never trimmed or truncated. Refused with 400 validation_failed naming the list: the 20,000 most common breached passwords, and passwords made of the service name, the tenant slug or the email's local part.`,
      tenant: 'Send X-Tenant-ID (uuid or slug) to act in a tenant other than "default".',
      hashing: 'argon2id, m=19 MiB, t=2, p=1 (upgraded on login when weaker); a busy hash pool answers 503 unavailable: retry shortly.',
    };
  },
};
