import type { FastifyInstance } from 'fastify';

/**
 * Graceful shutdown (SIGTERM → app.close()): requests in flight finish, and every response sent while
 * closing carries `Connection: close`, so its keep-alive socket closes right after it. Without this, a
 * request that was in flight when close began answers keep-alive, and server.close() then waits for
 * that idle socket until keepAliveTimeout (72 s) — longer than most orchestrators' grace period.
 * Requests still arriving on an open connection during the drain are served normally (with
 * `Connection: close`) rather than with Fastify's bare 503, which has neither our headers nor our shape.
 */
export function registerGracefulClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
