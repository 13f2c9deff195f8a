import { isIP } from 'node:net';
import { classifyAddress } from './address.js';

/**
 * The registration-time rule for an endpoint URL; null when acceptable, else why not. https only, unless
 * WEBHOOK_ALLOW_PRIVATE=true (a development or private-network setting, which also admits plain http); no
 * credentials in the URL (they would be stored and listed in clear); an IP literal or a `localhost` name
 * that is refused at delivery is refused here already. Host names are not resolved here: the resolved
 * address is checked at every delivery (src/modules/webhooks/transport.ts), since DNS can change.
 */
export function urlProblem(raw: string, o: { allowPrivate: boolean }): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'https:' && !(o.allowPrivate && u.protocol === 'http:')) {
    return o.allowPrivate ? 'must use http or https' : 'must use https (plain http only with WEBHOOK_ALLOW_PRIVATE=true)';
  }
  if (u.username || u.password) return 'must not carry a user name or password';
  if (u.hash) return 'must not have a fragment';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(host)) {
    const v = classifyAddress(host, o);
    if (v === 'refused_private') return 'must not point at a loopback or private address (unless WEBHOOK_ALLOW_PRIVATE=true)';
    if (v !== 'ok') return 'must not point at a link-local, metadata or reserved address';
  } else if (!o.allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) {
    return 'must not point at localhost (unless WEBHOOK_ALLOW_PRIVATE=true)';
  }
  return null;
}
