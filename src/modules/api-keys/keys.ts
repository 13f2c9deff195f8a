import { randomToken, sha256 } from '../../lib/crypto.js';

/** `ck_` + base64url of 32 random bytes (256 bits, SECURITY KEY-01). */
export const API_KEY_PATTERN = /^ck_[A-Za-z0-9_-]{43}$/;

/** Characters kept for display: `ck_` and the first 8 of the secret (48 of its 256 bits). */
const PREFIX_LENGTH = 3 + 8;

export interface NewApiKey {
  /** the plaintext: returned to the caller once, never stored or logged */
  key: string;
  hash: Buffer;
  prefix: string;
}

export function newApiKey(): NewApiKey {
  const key = `ck_${randomToken(32)}`;
  return { key, hash: sha256(key), prefix: key.slice(0, PREFIX_LENGTH) };
}

/** True when `s` has the shape of a user API key; anything else is refused before hashing or any lookup. */
export const isApiKeyShaped = (s: string): boolean => API_KEY_PATTERN.test(s);
