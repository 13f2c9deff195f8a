const PERMISSION = /^(?:\*|[a-z0-9_.-]+)(?::(?:\*|[a-z0-9_.-]+))?$/;
const MAX_PERMISSION_LENGTH = 128;

/** True when `s` is a permission pattern: 1–2 ':'-separated segments of [a-z0-9_.-] or `*`, at most 128 chars. */
export function isValidPermission(s: unknown): s is string {
  return typeof s === 'string' && s.length <= MAX_PERMISSION_LENGTH && PERMISSION.test(s);
}

/** Splits at the first ':' only, so a resource id may itself contain ':' (`asset:urn:x` → asset, urn:x). */
function split(s: string): [string, string | undefined] {
  const i = s.indexOf(':');
  return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function segmentMatches(pattern: string, value: string): boolean {
  return pattern === '*' || pattern === value;
}

/**
 * Case-sensitive match of a `type[:id]` / `resource[:action]` pattern against a value, `*` matching one whole segment.
 * `*` alone matches everything; otherwise both sides must have the same number of segments.
 */
export function matchesPattern(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const [patternHead, patternTail] = split(pattern);
  const [valueHead, valueTail] = split(value);
  if (!segmentMatches(patternHead, valueHead)) return false;
  if (patternTail === undefined || valueTail === undefined) return patternTail === valueTail;
  return segmentMatches(patternTail, valueTail);
}

/** The first permission pattern that matches `action`, or undefined. */
export function findGrant(permissions: readonly string[], action: string): string | undefined {
  return permissions.find((permission) => matchesPattern(permission, action));
}

/** True when any permission pattern matches `action`. */
export function grants(permissions: readonly string[], action: string): boolean {
  return findGrant(permissions, action) !== undefined;
}
