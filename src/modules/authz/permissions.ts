const PERMISSION = /^(?:\*|[a-z0-9_.-]+)(?::(?:\*|[a-z0-9_.-]+))?$/;
const MAX_PERMISSION_LENGTH = 128;

/** True when `s` is a permission pattern: 1–2 ':'-separated segments of [a-z0-9_.-] or `*`, at most 128 chars. */
export function isValidPermission(s: unknown): s is string {
  return typeof s === 'string' && s.length <= MAX_PERMISSION_LENGTH && PERMISSION.test(s);
}

/** True when pattern segment [ps, pe) is `*` or equals value segment [vs, ve); compares in place (hot path). */
function segmentMatches(p: string, ps: number, pe: number, v: string, vs: number, ve: number): boolean {
  const n = pe - ps;
  if (n === 1 && p.charCodeAt(ps) === 42 /* '*' */) return true;
  if (n !== ve - vs) return false;
  for (let i = 0; i < n; i++) if (p.charCodeAt(ps + i) !== v.charCodeAt(vs + i)) return false;
  return true;
}

/**
 * Case-sensitive match of a `type[:id]` / `resource[:action]` pattern against a value, `*` matching one whole segment.
 * `*` alone matches everything; otherwise both sides must have the same number of segments. Both split at the
 * first ':' only, so a resource id may itself contain ':' (`asset:urn:x` → asset, urn:x).
 */
export function matchesPattern(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const pi = pattern.indexOf(':');
  const vi = value.indexOf(':');
  if (!segmentMatches(pattern, 0, pi === -1 ? pattern.length : pi, value, 0, vi === -1 ? value.length : vi)) return false;
  if (pi === -1 || vi === -1) return pi === vi;
  return segmentMatches(pattern, pi + 1, pattern.length, value, vi + 1, value.length);
}

/** The first permission pattern that matches `action`, or undefined. */
export function findGrant(permissions: readonly string[], action: string): string | undefined {
  return permissions.find((permission) => matchesPattern(permission, action));
}

/** True when any permission pattern matches `action`. */
export function grants(permissions: readonly string[], action: string): boolean {
  return findGrant(permissions, action) !== undefined;
}
