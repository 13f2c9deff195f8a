/** The one error catalog (DESIGN §5): each code is bound to its status here and nowhere else. */
export const ERRORS = {
  validation_failed: 400,
  invalid_json: 400,
  ambiguous_credentials: 400,
  unauthorized: 401,
  invalid_token: 401,
  token_expired: 401,
  invalid_credentials: 401,
  totp_required: 401,
  invalid_code: 401,
  token_replayed: 401,
  refresh_token_rotated: 401,
  forbidden: 403,
  tenant_mismatch: 403,
  banned: 403,
  mfa_enrollment_required: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  email_taken: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  header_too_large: 431,
  internal_error: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An error meant for the client: its code, a human sentence and optional fields of its own. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly fields: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    // An AppError is an answer to the client (401, 429…), never logged with its stack: skip capturing one.
    // Under a flood of refused requests the capture was the largest cost of each refusal (~7 µs).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.code = code;
    this.fields = fields;
    this.name = 'AppError';
  }

  get status(): number {
    return ERRORS[this.code];
  }
}

/** Raised by stores and ports when Postgres or the key–value store cannot be reached. */
export class UnavailableError extends Error {
  constructor(readonly dependency: 'postgres' | 'kv', options?: { cause?: unknown }) {
    super(`${dependency} is unavailable`, options);
    this.name = 'UnavailableError';
  }
}
