/** The store cannot be reached (down, restarting, closed, timed out); callers fail closed / answer 503. */
export class KvUnavailableError extends Error {
  override readonly name = 'KvUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A multi-key operation (mget, writeAll) was given keys of more than one hash tag: a programming error
 * that Redis Cluster would answer with CROSSSLOT, raised by every implementation before anything is done.
 */
export class KvCrossSlotError extends Error {
  override readonly name = 'KvCrossSlotError';

  constructor(op: string) {
    super(`kv: ${op} needs keys of one hash tag (one Cluster slot; see kvKey)`);
  }
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

// Client-side messages from ioredis, and server replies meaning "not serving right now"
// (loading a dump, failover in progress, cluster slots not covered, a slot's owner moving or restarting:
// a MOVED/ASK that reaches us is one ioredis could not follow, e.g. inside a pipeline while its master restarts).
const UNAVAILABLE_MESSAGE =
  /^(Connection is closed|Stream isn't writeable|Command timed out|Cluster isn't ready|None of startup nodes is available|Failed to refresh slots cache|Too many Cluster redirections|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|MOVED|ASK)\b/;

/** Redis's "this script is not loaded here": the script did not run, so sending it again is safe. */
export const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

/** True when `err` is a connection-level failure rather than a bad command or a bug. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof KvUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (
    (code !== undefined && UNAVAILABLE_CODES.has(code)) ||
    UNAVAILABLE_NAMES.has(err.name) ||
    UNAVAILABLE_MESSAGE.test(err.message) ||
    isNoScript(err)
  );
}

/** Returns `err` wrapped in KvUnavailableError when it is a connection-level failure, else `err` unchanged. */
export function toKvError(err: unknown): unknown {
  if (err instanceof KvUnavailableError || !isConnectionFailure(err)) return err;
  return new KvUnavailableError(`kv unavailable: ${(err as Error).message}`, { cause: err });
}

/** Default for a subscriber handler that threw: a process warning, so one bad handler neither crashes the service nor starves the others. */
export function reportHandlerError(err: unknown, channel: string): void {
  process.emitWarning(`kv subscriber on "${channel}" threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
}
