import { z } from 'zod';
import type { User } from './store.js';

/**
 * The user as Cedros AuthUser and UserResponse declare it (id, email, emailVerified, solanaPublicKey,
 * createdAt) plus our extras. Cedros types email and solanaPublicKey as strings, so each is left out
 * when the user has none (a wallet-only user has no email; a user without a wallet no key).
 */
export const UserBody = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  email: z.string().optional().describe('absent when the user has no email (a wallet-only account)'),
  name: z.string().nullable(),
  emailVerified: z.boolean(),
  solanaPublicKey: z.string().optional().describe('base58 public key of the linked Solana wallet; absent when none is linked'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'User' });

export type UserBody = z.infer<typeof UserBody>;

// Bodies kept per user object: the profile cache behind GET /auth/user hands out the same object until the
// user changes (a changed user is a new object), so the hot path formats its dates once.
const bodies = new WeakMap<User, Readonly<UserBody>>();

/** The allow-listed shape of a user in responses (never the hash or internal flags). */
export const toUserBody = (u: User): UserBody => {
  let body = bodies.get(u);
  if (!body) {
    body = Object.freeze({
      id: u.id,
      tenantId: u.tenantId,
      ...(u.email !== null ? { email: u.email } : {}),
      name: u.name,
      emailVerified: u.emailVerified,
      ...(u.solanaPublicKey ? { solanaPublicKey: u.solanaPublicKey } : {}),
      createdAt: u.createdAt.toISOString(),
      updatedAt: u.updatedAt.toISOString(),
    });
    bodies.set(u, body);
  }
  return body as UserBody;
};

export const AuthTokens = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  expiresIn: z.number().int().describe('access-token lifetime in seconds'),
}).meta({ id: 'AuthTokens' });

export const AuthResponse = z.object({
  user: UserBody,
  tokens: AuthTokens,
  isNewUser: z.boolean(),
  apiKey: z.string().optional().describe('a new user API key (ck_…), shown once, when the tenant issues one on sign-up'),
}).meta({ id: 'AuthResponse' });

export const MfaRequiredResponse = z.object({
  mfaRequired: z.literal(true),
  mfaToken: z.string().describe('single use, 5 minutes: POST /auth/login/mfa {mfaToken, code | recoveryCode}'),
  userId: z.uuid(),
}).meta({ id: 'MfaRequiredResponse' });

export type AuthResponse = z.infer<typeof AuthResponse>;
export type MfaRequiredResponse = z.infer<typeof MfaRequiredResponse>;

export const Email = z.string().trim().max(254).pipe(z.email({ message: 'must be an email address' }))
  .refine((s) => !/[\r\n\u0000-\u001f]/.test(s), 'must not contain control characters')
  .transform((s) => s.normalize('NFKC'));
