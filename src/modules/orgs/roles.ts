import { matchesPattern } from '../authz/permissions.js';

/** Built-in org roles, strongest first. */
export const BUILT_IN_ROLES = ['owner', 'admin', 'member'] as const;
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

/**
 * The org's own resources. Actions on them are decided by role permissions only (ABAC policies are not
 * consulted), so a policy can neither lock the owners out of managing the org nor hand its management to
 * someone no role allows.
 */
export const RESERVED_RESOURCES = ['org', 'members', 'roles', 'policies', 'invites'] as const;

/** Every concrete permission over the org's own resources (what the route checks ask for). */
export const ORG_PERMISSIONS = [
  'org:read', 'org:update', 'org:delete',
  'members:read', 'members:write', 'members:delete',
  'roles:read', 'roles:write',
  'policies:read', 'policies:write',
  'invites:read', 'invites:write',
] as const;
export type OrgPermission = (typeof ORG_PERMISSIONS)[number];

/**
 * Permission sets of the built-in roles. The owner holds everything in the org (`*`, which also covers the
 * application's own permissions such as `assets:read`); admins manage everything but the org's deletion and
 * ownership; members see the org, its members and its roles.
 */
export const BUILT_IN_PERMISSIONS: Record<BuiltInRole, readonly string[]> = {
  owner: ['*'],
  admin: ['org:read', 'org:update', 'members:*', 'roles:*', 'policies:*', 'invites:*'],
  member: ['org:read', 'members:read', 'roles:read'],
};

/**
 * The actions that make a role *admin-level*: whoever may perform one of them can change who belongs to the org
 * and with which roles (`members:write`, `members:delete`, `invites:write`), what a role grants (`roles:write`),
 * what the org's policies allow or deny (`policies:write`), or end the org (`org:delete`). Handing the org over
 * (granting `owner`) needs the owner role, whose `*` covers all of these. Reads and `org:update` (renaming) are
 * not admin-level; neither are the application's own permissions (`assets:*`).
 */
export const ADMIN_LEVEL_ACTIONS = [
  'members:write', 'members:delete', 'invites:write', 'roles:write', 'policies:write', 'org:delete',
] as const satisfies readonly OrgPermission[];

/**
 * True when a permission set is admin-level (allows one of ADMIN_LEVEL_ACTIONS, by any pattern: `members:*`,
 * `*:write`, `*`). The one rule deciding, by permissions and never by role names, which grants pass the TOTP
 * gate (member update, invite, custom role creation or change) and who counts as an org admin for the
 * tenant's requireMfaForAdmins.
 */
export const isAdminLevel = (permissions: readonly string[]): boolean =>
  ADMIN_LEVEL_ACTIONS.some((action) => allows(permissions, action));

export const isBuiltInRole = (name: string): name is BuiltInRole =>
  (BUILT_IN_ROLES as readonly string[]).includes(name);

/** True when the action is on one of the org's own resources (`members:write`, `org:*`, …). */
export function isReservedAction(action: string): boolean {
  const colon = action.indexOf(':');
  return RESERVED_HEADS.has(colon < 0 ? action : action.slice(0, colon));
}
const RESERVED_HEADS: ReadonlySet<string> = new Set(['*', ...RESERVED_RESOURCES]);

/** The permissions of a list of role names: built-ins from the table, custom ones from `custom` (unknown names grant nothing). */
export function permissionsOf(roles: readonly string[], custom: ReadonlyMap<string, readonly string[]>): string[] {
  const out = new Set<string>();
  for (const role of roles) {
    const perms = isBuiltInRole(role) ? BUILT_IN_PERMISSIONS[role] : custom.get(role.toLowerCase());
    for (const p of perms ?? []) out.add(p);
  }
  return [...out];
}

const segments = (p: string): string[] => (p === '*' ? ['*'] : p.split(':'));

/**
 * True when pattern `held` grants at least everything pattern `wanted` grants (`*` ⊇ `assets:*` ⊇ `assets:read`).
 * A one-segment pattern only ever covers one-segment values, as in matchesPattern.
 */
export function covers(held: string, wanted: string): boolean {
  if (held === '*') return true;
  if (wanted === '*') return false;
  const h = segments(held);
  const w = segments(wanted);
  if (h.length !== w.length) return false;
  return h.every((seg, i) => seg === '*' || seg === w[i]);
}

/** True when the permission set holds every permission that `wanted` grants. */
export function holdsAll(held: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((w) => held.some((h) => covers(h, w)));
}

/** The pattern granting exactly what both patterns grant, or null when they grant nothing in common. */
export function meet(a: string, b: string): string | null {
  if (a === '*') return b;
  if (b === '*') return a;
  const x = segments(a);
  const y = segments(b);
  if (x.length !== y.length) return null;
  const out: string[] = [];
  for (let i = 0; i < x.length; i++) {
    if (x[i] === '*') out.push(y[i]!);
    else if (y[i] === '*' || y[i] === x[i]) out.push(x[i]!);
    else return null;
  }
  return out.join(':');
}

/**
 * Narrows a permission set by an API key's scopes: what both grant, without patterns another one already covers.
 * E.g. roles `['*']` and scopes `['assets:read']` → `['assets:read']`.
 */
export function intersect(permissions: readonly string[], scopes: readonly string[]): string[] {
  const all = new Set<string>();
  for (const p of permissions) for (const s of scopes) {
    const m = meet(p, s);
    if (m !== null) all.add(m);
  }
  const list = [...all];
  // Distinct patterns never cover each other both ways, so this keeps exactly the maximal ones.
  return list.filter((p, i) => !list.some((q, j) => j !== i && covers(q, p))).sort();
}

/** True when some permission pattern in the set grants the concrete action. */
export const allows = (permissions: readonly string[], action: string): boolean =>
  permissions.some((p) => matchesPattern(p, action));
