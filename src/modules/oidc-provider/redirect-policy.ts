/**
 * Which redirect URIs a dynamically registered client (RFC 7591) may use, per the tenant's
 * `oidcRegistrationRedirects` (default: loopback and https). Entries:
 * - `loopback`: http://127.0.0.1, http://[::1] or http://localhost, any port and path (RFC 8252 §7.3);
 * - `https`: any https URL;
 * - `https://<host>`: https URLs of that host only;
 * - `<scheme>:`: a private-use URI scheme (RFC 8252 §7.1), e.g. `cursor:`.
 * A fragment is never allowed (RFC 6749 §3.1.2). Returns the first refused URI, or null.
 */
export const DEFAULT_REGISTRATION_REDIRECTS = ['loopback', 'https'];

export function refusedRedirect(uris: unknown, policy: readonly string[] = DEFAULT_REGISTRATION_REDIRECTS): string | null {
  if (!Array.isArray(uris) || uris.length === 0) return '(none)';
  for (const raw of uris) {
    if (typeof raw !== 'string' || !allowed(raw, policy)) return String(raw);
  }
  return null;
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function allowed(raw: string, policy: readonly string[]): boolean {
  let u: URL;
  try { u = new URL(raw); } catch { return false; }
  if (u.hash || raw.includes('#') || u.username || u.password) return false;
  for (const rule of policy) {
    if (rule === 'loopback' && u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return true;
    if (rule === 'https' && u.protocol === 'https:') return true;
    if (rule.startsWith('https://') && u.protocol === 'https:' && u.host === new URL(rule).host) return true;
    if (/^[a-z][a-z0-9+.-]*:$/.test(rule) && !['http:', 'https:', 'javascript:', 'data:', 'file:'].includes(rule) && u.protocol === rule) return true;
  }
  return false;
}
