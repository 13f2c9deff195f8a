import type { FastifyRequest } from 'fastify';
import { AppError } from './errors.js';

export const ACCESS_COOKIE = '__Host-ap_access';
export const REFRESH_COOKIE = '__Secure-ap_refresh';

export type PresentedCredential =
  | { kind: 'accessToken'; value: string; viaCookie: boolean }
  | { kind: 'apiKey'; value: string }
  | { kind: 'adminKey'; value: string };

const MAX_CREDENTIAL_LENGTH = 8192;

/**
 * Reads the one credential a request presents. Both `Authorization` and `X-API-Key` → 400
 * ambiguous_credentials, even with the same value (SECURITY KEY-04: no chaining, no fallback); the
 * cookie counts only when no Authorization header is sent.
 */
export function presentedCredential(req: FastifyRequest): PresentedCredential | null {
  const authz = req.headers.authorization;
  const xKey = req.headers['x-api-key'];
  if (Array.isArray(xKey)) throw new AppError('ambiguous_credentials', 'Send at most one X-API-Key header.');
  let bearer: string | undefined;
  if (authz !== undefined) {
    const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authz);
    if (!m) throw new AppError('invalid_token', 'The Authorization header must be "Bearer <token>".');
    bearer = m[1]!;
  }
  if (bearer !== undefined && xKey !== undefined) {
    throw new AppError('ambiguous_credentials', 'Send one credential: either Authorization or X-API-Key, not both.');
  }
  const value = bearer ?? xKey;
  if (value !== undefined) {
    if (value.length > MAX_CREDENTIAL_LENGTH) throw new AppError('invalid_token', 'The credential is not valid.');
    if (value.startsWith('ck_')) return { kind: 'apiKey', value };
    if (value.startsWith('ak_')) return { kind: 'adminKey', value };
    if (bearer === undefined) throw new AppError('invalid_token', 'X-API-Key takes a user API key (ck_…).');
    return { kind: 'accessToken', value, viaCookie: false };
  }
  const cookie = req.cookies?.[ACCESS_COOKIE];
  if (cookie && cookie.length <= MAX_CREDENTIAL_LENGTH) return { kind: 'accessToken', value: cookie, viaCookie: true };
  return null;
}
