import type { ModuleDef } from '../module.js';
import { passkeyRoutes } from './routes.js';

export const passkeysModule: ModuleDef = {
  name: 'passkeys',
  plugin: passkeyRoutes,
  discovery: (config) => ({
    summary: 'WebAuthn passkeys: register one while signed in, then sign in with it (no password). RP ID: the tenant\'s webauthnRpId (default the host of PUBLIC_URL); origins: the tenant\'s allowedOrigins plus PUBLIC_URL\'s origin.',
    register: [
      `POST ${config.basePath}/passkeys/register/options (Bearer access token; step-up for MFA users) → PublicKeyCredentialCreationOptionsJSON`,
      'navigator.credentials.create({publicKey: options}) with challenge and user.id decoded from base64url (or @simplewebauthn/browser startRegistration)',
      `POST ${config.basePath}/passkeys/register/verify <credential.toJSON() plus optional "name"> → 201 Passkey`,
    ],
    signIn: [
      `POST ${config.basePath}/passkeys/login/options {"email"?} → PublicKeyCredentialRequestOptionsJSON (omit email for discoverable passkeys)`,
      'navigator.credentials.get({publicKey: options}) (or startAuthentication)',
      `POST ${config.basePath}/passkeys/login/verify <credential.toJSON()> → AuthResponse (amr hwk or swk) or MfaRequiredResponse`,
    ],
    manage: { list: `GET ${config.basePath}/passkeys (an access token, or an API key with scope user:read)`, remove: `DELETE ${config.basePath}/passkeys/{id} (409 if it is the only sign-in method)` },
    notes: 'Challenges are single use and live 5 minutes; user verification is required; a signature-counter regression is refused (401) and audited.',
  }),
};
