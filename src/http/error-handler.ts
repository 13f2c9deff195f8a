import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, ERRORS, UnavailableError, type ErrorCode } from './errors.js';
import { isConnectionError } from '../db/errors.js';
import { KvUnavailableError } from '../kv/kv-errors.js';
import { setSecurityHeaders } from './security-headers.js';

interface Issue { path: string; message: string }

/** Sends the error shape of DESIGN §5. */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string, fields: Record<string, unknown> = {}): FastifyReply {
  if (code === 'rate_limited' && typeof fields.retryAfter === 'number') reply.header('retry-after', String(fields.retryAfter));
  reply.header('cache-control', 'no-store');
  return reply.code(ERRORS[code]).type('application/json; charset=utf-8')
    .send({ error: code, message, requestId: reply.request.id, ...fields });
}

const FASTIFY_CODES: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'Send the body as application/json.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['validation_failed', 'The Content-Length header does not match the body.'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'The request body is too large.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['invalid_json', 'The request body is empty but declared as JSON.'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'The request body is not valid JSON.'],
  FST_ERR_CTP_INVALID_TYPE: ['unsupported_media_type', 'The Content-Type header is not valid.'],
};

function zodIssues(err: FastifyError): Issue[] {
  const context = (err as { validationContext?: string }).validationContext;
  return (err.validation ?? []).map((v) => {
    const raw = v as unknown as { instancePath?: string; params?: { issue?: { path?: (string | number)[] } }; message?: string };
    const segs = raw.params?.issue?.path ?? (raw.instancePath ?? '').split('/').filter(Boolean);
    const path = [context, ...segs].filter((s) => s !== undefined && s !== '').join('.');
    return { path, message: raw.message ?? 'is invalid' };
  });
}

/**
 * Fastify's router answers a malformed URL (bad percent-encoding) and a path parameter over
 * `maxParamLength` itself, before any hook, in its own body; this gives them our shape and headers.
 * A parameter that long names nothing here (ids, slugs and client ids are far shorter): 404.
 */
export function onFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  setSecurityHeaders(reply, req.id);
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendError(reply, 'not_found', 'No such route or resource: a path segment is longer than 256 characters.');
    return;
  }
  sendError(reply, 'validation_failed', 'The request URL is malformed (check its percent-encoding).');
}

/** Maps every failure to the error shape; details only for 4xx, a generic 500 otherwise (cause logged). */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.warn({ err: err.cause ?? err, code: err.code }, 'dependency failure');
      return sendError(reply, err.code, err.message, err.fields);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = zodIssues(err);
      const first = details[0];
      return sendError(reply, 'validation_failed',
        first ? `Invalid request: ${first.path ? `${first.path}: ` : ''}${first.message}` : 'The request is invalid.', { details });
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) return sendError(reply, mapped[0], mapped[1]);
    // The client went away while its body was being read (or was cut off by the request timeout, see
    // connection-limits.ts): nobody is left to answer, and it is not a dependency failure to log.
    if (err.code === 'ECONNRESET' && req.raw.destroyed) return sendError(reply, 'validation_failed', 'The request was aborted.');
    if (err instanceof UnavailableError || err instanceof KvUnavailableError || isConnectionError(err)) {
      req.log.warn({ err }, 'dependency unavailable');
      return sendError(reply, 'unavailable', 'A service this request depends on is unavailable; try again shortly.');
    }
    if (err.validation) {
      return sendError(reply, 'validation_failed', 'The request is invalid.', { details: zodIssues(err) });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // Fastify's own client errors (malformed URL, bad header…): keep the status, never the internals.
      const code: ErrorCode = err.statusCode === 413 ? 'payload_too_large' : err.statusCode === 415 ? 'unsupported_media_type'
        : err.statusCode === 404 ? 'not_found' : err.statusCode === 431 ? 'header_too_large' : 'validation_failed';
      return sendError(reply, code, code === 'validation_failed' ? 'The request is malformed.' : 'The request was refused.');
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(reply, 'internal_error', 'Something went wrong on our side; the error was logged with this request id.');
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 'not_found', 'No such route. See GET /auth/discovery or /auth/openapi.json for the API.'));
}
