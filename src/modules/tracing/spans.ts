import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { routeConfigOf } from '../../http/route-config.js';
import { redactString } from '../../lib/redact.js';
import { tracer } from './tracing.js';

/** A password hash job's span, under the request's span (none outside a request). */
export async function traceHash<T>(kind: 'hash' | 'verify', waitedMs: number, fn: () => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()) return fn();
  const s = tracer().startSpan(`argon2 ${kind}`, { kind: SpanKind.INTERNAL, attributes: { 'authplane.argon2.queue_wait_ms': Math.round(waitedMs * 10) / 10 } });
  try {
    return await context.with(trace.setSpan(context.active(), s), fn);
  } finally {
    s.end();
  }
}

const SPAN = Symbol('span');
type Traced = FastifyRequest & { [SPAN]?: Span };

/**
 * One SERVER span per request, registered as the first onRequest hook so every later hook, the handler
 * and the store calls they make run in its context (their spans become its children). A `traceparent`
 * header continues the caller's trace. Attributes: method, route *pattern* (never the URL: paths and
 * query strings can carry tokens), status code and our request id (redacted like in the logs).
 */
export function registerRequestTracing(app: FastifyInstance): void {
  app.decorateRequest(SPAN, undefined);
  app.addHook('onRequest', (req, _reply, done) => {
    const route = routeConfigOf(req).url;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer().startSpan(route ? `${req.method} ${route}` : `${req.method} unmatched`, {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method,
        ...(route ? { 'http.route': route } : {}),
        'authplane.request_id': redactString(req.id, { max: 128 }),
      },
    }, parent);
    (req as Traced)[SPAN] = span;
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const span = (req as Traced)[SPAN];
    if (span) {
      (req as Traced)[SPAN] = undefined;
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
  app.addHook('onRequestAbort', (req, done) => {
    const span = (req as Traced)[SPAN];
    if (span) {
      (req as Traced)[SPAN] = undefined;
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'aborted by the client' });
      span.end();
    }
    done();
  });
}
