import { isValidPermission } from '../authz/permissions.js';

/**
 * The scopes Authplane's own routes check when called with a `ck_` key (route `config.scope`). Any other
 * permission string (`assets:read`) is allowed too: resource servers read a key's scopes from
 * POST /api-key/validate and decide themselves. `*` and `<area>:*` are wildcards over whole segments.
 */
export const SCOPE_CATALOG: Readonly<Record<string, string>> = Object.freeze({
  '*': 'everything the key\'s user may do (never the admin plane)',
  'user:read': 'GET /user, GET /passkeys, GET /solana/link',
  'sessions:read': 'GET /sessions',
  'sessions:write': 'DELETE /sessions, DELETE /sessions/{id}',
  'api_keys:read': 'GET /user/api-key, GET /api-keys',
  'api_keys:write': 'POST /api-keys, DELETE /api-keys/{id}, POST /user/api-key/regenerate (never with broader scopes than the calling key)',
  'orgs:read': 'GET /orgs and /orgs/{org_id}[/members|/roles|/policies|/invites]',
  'orgs:write': 'POST/PATCH/DELETE under /orgs (org deletion is a step-up route: keys are refused)',
  'authz:check': 'POST /authorize about another user (subjectId) or with resource.attributes, for resource servers; /authorize and /permissions otherwise need no scope and are held to the key\'s scopes',
});

/** Scope heads no user key may carry: the admin plane is reached with `ak_` keys only. */
export const RESERVED_SCOPE_HEADS: readonly string[] = ['admin'];

export const MAX_SCOPES = 50;

const split = (s: string): [string, string | undefined] => {
  const i = s.indexOf(':');
  return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
};

/**
 * True when every action `wanted` grants is also granted by `held` (the same segment rules as
 * `matchesPattern`: `*` alone covers everything; otherwise segment counts must agree and a `*`
 * segment covers any one segment). A concrete segment never covers a wildcard.
 */
export function scopeCovers(held: string, wanted: string): boolean {
  if (held === '*') return true;
  const [hh, ht] = split(held);
  const [wh, wt] = split(wanted);
  if (hh !== '*' && hh !== wh) return false;
  if (ht === undefined || wt === undefined) return ht === wt;
  return ht === '*' || ht === wt;
}

/** The scopes of `wanted` that no scope of `held` covers (empty: `wanted` is no broader than `held`). */
export function uncoveredScopes(held: readonly string[], wanted: readonly string[]): string[] {
  return wanted.filter((w) => !held.some((h) => scopeCovers(h, w)));
}

/** The scopes naming a reserved area (`admin`, `admin:*`, …). */
export function reservedScopes(scopes: readonly string[]): string[] {
  return scopes.filter((s) => RESERVED_SCOPE_HEADS.includes(split(s)[0]));
}

export const isValidScope = (s: unknown): s is string => isValidPermission(s);
