import { z } from 'zod';

/** base64url text (padding tolerated) of at most `max` characters. */
const B64u = (max: number) => z.string().min(1, 'is required').max(max, `must be at most ${max} characters`)
  .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');

// A credential id is at most 1023 bytes (WebAuthn §7.1): 1364 base64url characters.
const CredentialIdText = B64u(1364);
const Transports = z.array(z.string().max(32)).max(10);

/**
 * The browser's PublicKeyCredential JSON (toJSON() or @simplewebauthn/browser). Unknown keys in
 * the browser's objects are ignored rather than refused, so that new browser fields do not break
 * sign-in; what is verified is the signed clientDataJSON and authenticator data, not these copies.
 */
export const RegistrationCredential = z.object({
  id: CredentialIdText,
  rawId: CredentialIdText,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: B64u(8192),
    attestationObject: B64u(65_536),
    transports: Transports.optional(),
    authenticatorData: B64u(65_536).optional(),
    publicKey: B64u(8192).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  name: z.string().trim().min(1).max(100).optional().describe('a label for this passkey, e.g. "Laptop"'),
}).meta({ id: 'PasskeyRegistrationCredential' });

export type RegistrationCredential = z.infer<typeof RegistrationCredential>;

export const AuthenticationCredential = z.object({
  id: CredentialIdText,
  rawId: CredentialIdText,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: B64u(8192),
    authenticatorData: B64u(65_536),
    signature: B64u(4096),
    userHandle: z.string().max(256).regex(/^[A-Za-z0-9_-]*={0,2}$/, 'must be base64url').optional().nullable(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
}).meta({ id: 'PasskeyAuthenticationCredential' });

export type AuthenticationCredential = z.infer<typeof AuthenticationCredential>;

export const LoginOptionsBody = z.object({
  email: z.string().trim().min(1).max(254).optional().describe('limit the ceremony to this user\'s passkeys; omit for discoverable credentials'),
}).strict().meta({ id: 'PasskeyLoginOptionsBody' });

const CredentialDescriptor = z.object({ id: z.string(), type: z.string(), transports: z.array(z.string()).optional() });

export const RegistrationOptions = z.object({
  rp: z.object({ name: z.string(), id: z.string().optional() }),
  user: z.object({ id: z.string(), name: z.string(), displayName: z.string() }),
  challenge: z.string(),
  pubKeyCredParams: z.array(z.object({ alg: z.number(), type: z.string() })),
  timeout: z.number().optional(),
  excludeCredentials: z.array(CredentialDescriptor).optional(),
  authenticatorSelection: z.object({
    authenticatorAttachment: z.string().optional(),
    requireResidentKey: z.boolean().optional(),
    residentKey: z.string().optional(),
    userVerification: z.string().optional(),
  }).optional(),
  hints: z.array(z.string()).optional(),
  attestation: z.string().optional(),
}).meta({ id: 'PasskeyRegistrationOptions', description: 'PublicKeyCredentialCreationOptionsJSON: pass to navigator.credentials.create() (decode challenge and user.id from base64url) or to @simplewebauthn/browser startRegistration()' });

export const AuthenticationOptions = z.object({
  challenge: z.string(),
  timeout: z.number().optional(),
  rpId: z.string().optional(),
  allowCredentials: z.array(CredentialDescriptor).optional(),
  userVerification: z.string().optional(),
  hints: z.array(z.string()).optional(),
}).meta({ id: 'PasskeyAuthenticationOptions', description: 'PublicKeyCredentialRequestOptionsJSON: pass to navigator.credentials.get() (decode challenge and ids from base64url) or to @simplewebauthn/browser startAuthentication()' });

export const PasskeyBody = z.object({
  id: z.uuid(),
  name: z.string().nullable(),
  deviceType: z.enum(['singleDevice', 'multiDevice']).describe('multiDevice: a synced passkey (backup eligible)'),
  backedUp: z.boolean(),
  transports: z.array(z.string()),
  aaguid: z.string().nullable(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
}).meta({ id: 'Passkey' });

export type PasskeyBody = z.infer<typeof PasskeyBody>;

export const PasskeyList = z.object({ items: z.array(PasskeyBody), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }).meta({ id: 'PasskeyList' });
