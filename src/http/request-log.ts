import type { FastifyInstance } from 'fastify';
import { redactUrl } from '../lib/redact.js';

/** One log line per request: request id, route, status, duration (the URL's secret-looking query values redacted). */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({
      requestId: req.id,
      method: req.method,
      route: req.routeOptions.url ?? null,
      url: redactUrl(req.url),
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      ip: req.ip,
    }, 'request');
  });
}
