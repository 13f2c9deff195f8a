import { UnavailableError } from '../http/errors.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);

/** True for errors that mean "the database cannot be reached" rather than "the query is wrong". */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: string; message?: string };
  if (e.code && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  const m = e.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|connection timeout|PGlite is closed|canceling statement due to statement timeout/i.test(m);
}

/** Rethrows connection-level failures as UnavailableError (→ 503), anything else unchanged. */
export function mapDbError(err: unknown): never {
  if (isConnectionError(err)) throw new UnavailableError('postgres', { cause: err });
  throw err;
}
