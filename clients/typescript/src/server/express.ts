import { guard, type GuardOptions } from './middleware.js';
import type { AuthContext } from './resource-server.js';

/** The parts of Node's IncomingMessage/ServerResponse the middleware uses (Express, Connect, plain http). */
export interface ConnectRequest { headers: Record<string, string | string[] | undefined>; auth?: AuthContext | null }
export interface ConnectResponse { statusCode: number; setHeader(name: string, value: string): unknown; end(body?: string): unknown }

/**
 * Express/Connect middleware: sets `req.auth` and calls `next()`, or answers 401 (503 when Authplane
 * cannot be asked) in the DESIGN §5 error shape.
 */
export function authplaneExpress(o: GuardOptions) {
  return (req: ConnectRequest, res: ConnectResponse, next: (err?: unknown) => void): void => {
    guard(req.headers, o).then((r) => {
      if ('refused' in r) {
        res.statusCode = r.refused.status;
        for (const [k, v] of Object.entries(r.refused.headers)) res.setHeader(k, v);
        res.end(JSON.stringify(r.refused.body));
        return;
      }
      req.auth = r.auth;
      next();
    }, next);
  };
}
