import type { FastifyInstance } from 'fastify';
import { redactString } from '../lib/redact.js';
import { PRE_REDACTED } from './logger.js';
import { routeConfigOf } from './route-config.js';

/** One log line per request: request id, route, status, duration (the URL's secret-looking query values redacted). */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (req, reply, done) => {
    // The root logger (the request id is a field): a per-request child is only made when something else logs.
    if ((app.log as unknown as { isLevelEnabled(level: string): boolean }).isLevelEnabled('info')) {
      // Every string is redacted here or by the logger's `url` serializer (the route is our own pattern, the
      // method a parsed token), so the logger's generic deep-copying redactor can skip this object.
      app.log.info({
        [PRE_REDACTED]: true,
        requestId: redactString(req.id),
        method: req.method,
        route: routeConfigOf(req).url ?? null,
        url: req.url,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ip: redactString(req.ip),
      }, 'request');
    }
    done();
  });
}
