import type { FastifyInstance, FastifyRequest } from 'fastify';
import { guard, type GuardOptions } from './middleware.js';
import type { AuthContext } from './resource-server.js';

export type AuthplaneFastifyOptions = GuardOptions;
export type AuthedFastifyRequest = FastifyRequest & { auth: AuthContext | null };

/**
 * Fastify plugin: every route of the context it is registered in requires an Authplane access token
 * (or `ck_` API key) and sees `request.auth`; anything else is answered 401 (503 when Authplane cannot
 * be asked). Not encapsulated (like fastify-plugin), so register it inside the scope to protect:
 * `app.register(async (s) => { await s.register(authplaneFastify, { server }); s.get(…) })`.
 */
export async function authplaneFastify(app: FastifyInstance, o: AuthplaneFastifyOptions): Promise<void> {
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null);
  app.addHook('onRequest', async (req, reply) => {
    const r = await guard(req.headers, o);
    if ('refused' in r) {
      return reply.code(r.refused.status).headers(r.refused.headers).send({ ...r.refused.body, requestId: req.id });
    }
    (req as unknown as { auth: AuthContext | null }).auth = r.auth;
  });
}
// What fastify-plugin does: hooks and decorators apply to the registering context.
Object.assign(authplaneFastify, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: '@authplane/client' });
