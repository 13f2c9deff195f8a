import { AuthplaneError } from '../errors.js';
import { credentialOf, refusal, type AuthContext, type ResourceServer } from './resource-server.js';

export interface GuardOptions {
  server: ResourceServer;
  /** Accept `ck_` API keys as well as access tokens (default true). */
  apiKeys?: boolean;
  /** Let requests without any credential through with `auth = null` (default false: 401). */
  optional?: boolean;
}

/** Shared by the Fastify plugin and the Express middleware: the request's AuthContext, or a refusal. */
export async function guard(headers: Record<string, string | string[] | undefined>, o: GuardOptions):
  Promise<{ auth: AuthContext | null } | { refused: ReturnType<typeof refusal> }> {
  try {
    const credential = credentialOf(headers);
    if (!credential) {
      if (o.optional) return { auth: null };
      throw new AuthplaneError(401, { error: 'unauthorized', message: 'A bearer token is required' });
    }
    if (credential.startsWith('ck_') && o.apiKeys === false) throw new AuthplaneError(401, { error: 'invalid_token', message: 'API keys are not accepted here' });
    return { auth: await o.server.authenticate(credential) };
  } catch (e) {
    return { refused: refusal(e) };
  }
}

/**
 * The AuthContext the Fastify plugin or Express middleware set on `req.auth`, typed (no global type
 * augmentation, which would clash with an app that already types its own `req.auth`). Throws a 401
 * AuthplaneError on a request that has none (a route outside the guard, or `optional: true`).
 */
export function authOf(req: object): AuthContext {
  const auth = (req as { auth?: AuthContext | null }).auth;
  if (!auth) throw new AuthplaneError(401, { error: 'unauthorized', message: 'This request is not authenticated' });
  return auth;
}
