import * as client from 'openid-client';
import { AppError } from '../../http/errors.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Plain http is allowed only for an issuer on this machine (the in-process test provider). */
export const isLoopbackHttp = (u: URL): boolean => u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);

export interface OidcProvider {
  issuer: string;
  /** The discovered configuration; fetched once, retried on the next call after a failure (503). */
  configuration(): Promise<client.Configuration>;
}

/**
 * One OpenID Connect provider, configured by issuer URL (Google by default). Discovery is lazy so
 * that a provider outage never stops the server from starting; it only makes these routes answer
 * 503 until the provider is back. ID-token signatures are checked against the provider's JWKS
 * (enableNonRepudiationChecks), not only trusted because they came over TLS.
 */
export function createOidcProvider(cfg: { issuer: string; clientId: string; clientSecret: string }): OidcProvider {
  const issuer = new URL(cfg.issuer);
  const loopback = isLoopbackHttp(issuer);
  if (issuer.protocol !== 'https:' && !loopback) {
    throw new Error('OAUTH_GOOGLE_ISSUER must be an https:// URL (plain http:// only for a loopback test issuer: http://127.0.0.1:<port> or http://localhost:<port>)');
  }
  let pending: Promise<client.Configuration> | null = null;
  return {
    issuer: cfg.issuer,
    configuration() {
      pending ??= client.discovery(issuer, cfg.clientId, undefined, client.ClientSecretPost(cfg.clientSecret), {
        // openid-client refuses http:// endpoints; a loopback issuer is a test provider on this machine.
        execute: [...(loopback ? [client.allowInsecureRequests] : []), client.enableNonRepudiationChecks],
        timeout: 10,
      }).catch((err: unknown) => {
        pending = null;
        throw new AppError('unavailable', 'The OpenID provider cannot be reached right now; try again shortly.', {}, { cause: err });
      });
      return pending;
    },
  };
}
