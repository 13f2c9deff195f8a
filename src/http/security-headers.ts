import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The headers a JSON API needs (DESIGN §5, HDR-01) plus CORP. Helmet's document-only headers are off:
 * COOP, Origin-Agent-Cluster, X-DNS-Prefetch-Control, X-Download-Options, X-Permitted-Cross-Domain-Policies
 * and X-XSS-Protection act on HTML pages, and this service serves none; each would only add bytes to
 * every response (measured: ~30% of a trivial route's throughput went to header bytes).
 */
const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], objectSrc: ["'none'"], formAction: ["'none'"] },
  },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  noSniff: true,
  crossOriginResourcePolicy: { policy: 'same-site' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/**
 * Helmet's header set for our options, computed once. None of our directives depends on the request,
 * so running helmet's middleware against a recording response at start gives exactly the headers it
 * would set on every request (it re-parses its options per call: measurable on a hot path).
 */
export function helmetHeaders(options: Readonly<HelmetOptions> = HELMET_OPTIONS): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => { headers[name.toLowerCase()] = String(value); },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()]; },
  };
  let failure: unknown = null;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => { failure = err ?? null; });
  if (failure) throw failure;
  return Object.freeze(headers);
}

/**
 * Security headers on every response, errors and 404s included (DESIGN §5, SECURITY HDR-01), with
 * `x-request-id`. `Cache-Control: no-store` is the default for the whole API because most responses
 * carry a secret or a user's data; the few public documents (JWKS, OpenAPI, discovery) set their own.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (req, reply, done) => {
    setSecurityHeaders(reply, req.id);
    done();
  });
}

let fixedHeaders: Readonly<Record<string, string>> | null = null;

/** The headers of registerSecurityHeaders, for the answers Fastify gives before any hook runs (frameworkErrors). */
export function setSecurityHeaders(reply: FastifyReply, requestId: string): void {
  fixedHeaders ??= Object.freeze({ ...helmetHeaders(), 'cache-control': 'no-store' });
  reply.headers(fixedHeaders);
  reply.header('x-request-id', requestId);
}
