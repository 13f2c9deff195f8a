import type { ErrorCode } from './generated/error-codes.js';

export type { ErrorCode } from './generated/error-codes.js';

/** The error body every Authplane route answers with (DESIGN §5), plus the fields some codes add. */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  requestId?: string;
  details?: { path: string; message: string }[];
  challenge?: string;
  retryAfter?: number;
  [field: string]: unknown;
}

/**
 * A refused call: `code` is the server's `error` code (typed by its catalog), `status` the HTTP status.
 * Codes the client raises itself without a server answer: `unauthorized` (no session to use) and
 * `unavailable` (the server could not be reached or answered with something that is not JSON).
 */
export class AuthplaneError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly body: ErrorBody;

  constructor(status: number, body: ErrorBody, options?: { cause?: unknown }) {
    super(body.message, options);
    this.name = 'AuthplaneError';
    this.code = body.error;
    this.status = status;
    this.body = body;
  }

  get requestId(): string | undefined { return this.body.requestId; }
  /** The step-up challenge of a `totp_required` answer. */
  get challenge(): string | undefined { return this.body.challenge; }
  /** Seconds to wait after `rate_limited`. */
  get retryAfter(): number | undefined { return this.body.retryAfter; }
}

/** Whether `e` is an AuthplaneError, optionally with one of the given codes. */
export function isAuthplaneError(e: unknown, ...codes: ErrorCode[]): e is AuthplaneError {
  return e instanceof AuthplaneError && (codes.length === 0 || codes.includes(e.code));
}

/** Reads an error response defensively: a body without a string `error` still yields an AuthplaneError. */
export function errorFromResponse(status: number, data: unknown): AuthplaneError {
  const d = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const code = typeof d.error === 'string' ? (d.error as ErrorCode) : status >= 500 ? 'unavailable' : 'invalid_json';
  const message = typeof d.message === 'string' ? d.message : `Authplane answered ${status}`;
  return new AuthplaneError(status, { ...d, error: code, message } as ErrorBody);
}
