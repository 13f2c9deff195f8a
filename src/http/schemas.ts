import { z } from 'zod';
import { ERRORS, type ErrorCode } from './errors.js';

/** The error shape of DESIGN §5. */
export const ErrorBody = z.object({
  error: z.string().describe('snake_case error code'),
  message: z.string().describe('a human sentence'),
  requestId: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  challenge: z.string().optional().describe('step-up challenge (totp_required)'),
  retryAfter: z.number().optional().describe('seconds (rate_limited)'),
}).catchall(z.unknown()).meta({ id: 'Error' });

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid request', 401: 'Missing or invalid credential', 403: 'Forbidden', 404: 'Not found', 409: 'Conflict',
  410: 'Gone', 413: 'Payload too large', 415: 'Unsupported media type', 422: 'Idempotency key reused with another body',
  429: 'Rate limited', 503: 'A dependency is unavailable',
};

/** Declares error statuses on a route so the OpenAPI document lists them. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  for (const s of statuses) out[s] = ErrorBody.describe(STATUS_TEXT[s] ?? 'Error') as typeof ErrorBody;
  return out;
}

/**
 * The body of a Cedros operation that deletes something: the Cedros spec declares 200 for these (routes
 * outside it answer 204 with no body).
 */
export const Deleted = z.object({ deleted: z.literal(true) }).meta({ id: 'Deleted' });
export const DELETED = { deleted: true } as const;

/** The codes a status may carry (for docs). */
export const codesFor = (status: number): ErrorCode[] => (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c] === status);

/** List responses: `{items, total, limit, offset}`. */
export const ListOf = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const IdParam = (name: string) => z.object({ [name]: z.uuid({ message: `${name} must be a uuid` }) });
