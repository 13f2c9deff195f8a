import { z } from 'zod';
import { decodeBase58 } from './message.js';

/** base58 text that decodes to exactly `bytes` bytes (checked before anything touches storage). */
const base58Of = (bytes: number, what: string, maxChars: number) => z.string()
  .min(1, 'is required')
  .max(maxChars, `must be at most ${maxChars} characters`)
  .refine((s) => decodeBase58(s) !== null, 'must be base58 (alphabet without 0, O, I and l)')
  .refine((s) => decodeBase58(s)?.length === bytes, `must decode to ${bytes} bytes (${what})`);

/** A Solana address: base58 of a 32-byte Ed25519 public key (32–44 characters). */
export const SolanaPublicKey = base58Of(32, 'an Ed25519 public key', 44).describe('base58 Solana address (32-byte Ed25519 public key)');
/** A detached Ed25519 signature: 64 bytes, base58 (≤ 88 characters). */
export const SolanaSignature = base58Of(64, 'an Ed25519 signature', 88).describe('base58 Ed25519 signature (64 bytes) of the exact `message` bytes (UTF-8)');

export const SolanaChallengeBody = z.object({
  publicKey: SolanaPublicKey,
  purpose: z.enum(['signin', 'link']).optional()
    .describe('signin (default) or link; link needs a signed-in session and is then bound to it'),
}).strict().meta({ id: 'SolanaChallengeBody' });

export const SolanaChallenge = z.object({
  nonce: z.string().describe('single use; also inside the message'),
  message: z.string().describe('Sign-In-With-Solana text: sign these exact UTF-8 bytes'),
  expiresAt: z.iso.datetime(),
}).meta({ id: 'SolanaChallenge' });

export const SolanaSignInBody = z.object({
  publicKey: SolanaPublicKey,
  signature: SolanaSignature,
}).strict().meta({ id: 'SolanaSignInBody' });

export const SolanaWallet = z.object({
  publicKey: z.string().nullable().describe('the linked wallet, or null'),
  linkedAt: z.iso.datetime().nullable(),
}).meta({ id: 'SolanaWallet' });

export type SolanaWallet = z.infer<typeof SolanaWallet>;
