import * as nodeCrypto from 'node:crypto';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

type OneShotHash = (algorithm: string, data: string | Buffer, outputEncoding: 'buffer' | 'hex') => Buffer | string;
// `crypto.hash` (Node ≥ 20.12) digests in one call, about twice as fast as createHash for short inputs
// (an API key is hashed on every request that presents one).
const oneShot = (nodeCrypto as unknown as { hash?: OneShotHash }).hash;

/** `n` random bytes from the CSPRNG, base64url without padding. */
export function randomToken(n = 32): string {
  return randomBytes(n).toString('base64url');
}

/** SHA-256 digest of a UTF-8 string (for high-entropy secrets: API keys, refresh and one-time tokens). */
export function sha256(value: string): Buffer {
  return oneShot ? (oneShot('sha256', value, 'buffer') as Buffer) : createHash('sha256').update(value, 'utf8').digest();
}

export function sha256Hex(value: string | Buffer): string {
  return oneShot ? (oneShot('sha256', value, 'hex') as string) : createHash('sha256').update(value).digest('hex');
}

/** Constant-time equality of two strings or buffers; different lengths compare false without leaking where. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ab = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const bb = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  // Compare digests so that the comparison time does not depend on where the inputs differ or their lengths.
  const da = createHash('sha256').update(ab).digest();
  const db = createHash('sha256').update(bb).digest();
  return timingSafeEqual(da, db) && ab.length === bb.length;
}

/** Derives a 32-byte purpose-bound key from the master secret (HKDF-SHA256). */
export function deriveKey(masterSecret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(masterSecret, 'utf8'), Buffer.alloc(0), `authplane:${purpose}`, 32));
}

/** AES-256-GCM sealed box bound to `aad`; format `v1.<iv>.<tag>.<ciphertext>` (base64url parts). */
export function seal(key: Buffer, plaintext: string | Buffer, aad = ''): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
}

/** Opens a box made by `seal`; throws when the key, the aad or the box is wrong. */
export function open(key: Buffer, box: string, aad = ''): Buffer {
  const [v, iv, tag, ct] = box.split('.');
  if (v !== 'v1' || !iv || !tag || ct === undefined) throw new Error('sealed value has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
}
