import type { Tx } from '../../db/sql.js';
import { AppError } from '../../http/errors.js';
import { actorOf, type UserPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { roleStore, type CustomRole } from './role-store.js';
import { memberStore, orgStore, type Member, type Org } from './store.js';
import { allows, holdsAll, isAdminLevel, isBuiltInRole, permissionsOf, type OrgPermission } from './roles.js';

/** Who is calling an org service: the principal, its tenant and the request facts for the audit. */
export interface Caller {
  principal: UserPrincipal;
  tenant: Tenant;
  ctx: AuditContext;
}

/** The caller's standing in one org, read inside the transaction that acts on it. */
export interface Access {
  org: Org;
  member: Member;
  permissions: string[];
  isOwner: boolean;
  /** the org's custom roles by lower-cased name (loaded when needed) */
  custom: Map<string, CustomRole>;
}

export const orgNotFound = () => new AppError('not_found', 'No such organization.');

/**
 * Loads the caller's membership in the org, fresh from Postgres (never from the decision cache, so a
 * change applies to the very next request). Unknown org, non-member, disabled account and an API key bound
 * to another org all give the same 404, so a non-member learns nothing about the org's existence.
 * `lock` takes the org row lock (membership changes), serialising last-owner checks.
 */
export async function loadAccess(tx: Tx, caller: Caller, orgId: string, o: { lock?: boolean; roles?: boolean } = {}): Promise<Access> {
  const p = caller.principal;
  if (p.kind === 'apiKey' && p.orgId && p.orgId.toLowerCase() !== orgId.toLowerCase()) throw orgNotFound();
  const org = o.lock ? await orgStore.lock(tx, orgId) : await orgStore.byId(tx, orgId);
  if (!org) throw orgNotFound();
  const member = await memberStore.get(tx, orgId, p.userId);
  if (!member || member.userDisabled) throw orgNotFound();
  const needRoles = o.roles || member.roles.some((r) => !isBuiltInRole(r));
  const custom = new Map<string, CustomRole>(needRoles ? (await roleStore.list(tx, orgId)).map((r) => [r.name.toLowerCase(), r]) : []);
  const permissions = permissionsOf(member.roles, customPermissions(custom));
  return { org, member, permissions, isOwner: member.roles.includes('owner'), custom };
}

export const customPermissions = (custom: ReadonlyMap<string, CustomRole>): Map<string, string[]> =>
  new Map([...custom].map(([k, r]) => [k, r.permissions]));

/** 403 unless the caller's roles grant the permission. */
export function requirePermission(a: Access, permission: OrgPermission): void {
  if (!allows(a.permissions, permission)) {
    throw new AppError('forbidden', `Your roles in this organization do not grant "${permission}".`);
  }
}

/**
 * Canonical role names (built-ins lower-cased, custom roles as stored); 400 naming the first unknown one.
 * `field` is the body path for the error details.
 */
export function resolveRoles(a: Access, names: readonly string[], field: string): string[] {
  return names.map((name, i) => {
    const lower = name.toLowerCase();
    if (isBuiltInRole(lower)) return lower;
    const role = a.custom.get(lower);
    if (!role) {
      throw new AppError('validation_failed', `Invalid request: ${field}[${i}]: no role named "${name}" in this organization.`, {
        details: [{ path: `${field}[${i}]`, message: `no role named "${name}" in this organization` }],
      });
    }
    return role.name;
  });
}

/**
 * 403 unless the caller may hand out (or take away) every one of these roles: only owners grant `owner`,
 * and any other role only if the caller holds every permission it carries (no escalation, SECURITY AZ-03).
 */
export function requireGrantable(a: Access, roles: readonly string[]): void {
  const perms = customPermissions(a.custom);
  for (const role of roles) {
    if (role === 'owner' && !a.isOwner) throw new AppError('forbidden', 'Only owners can grant or take away the owner role.');
    if (!holdsAll(a.permissions, permissionsOf([role], perms))) {
      throw new AppError('forbidden', `You cannot grant or take away the role "${role}": it carries permissions your roles do not.`);
    }
  }
}

/** How a grant reached the service: whether the route put it through the TOTP gate as admin-level. */
export interface GrantClearance {
  /** true only when the route decided this grant was admin-level and the TOTP gate let it pass */
  adminLevelCleared?: boolean;
}

/**
 * Whether giving these role names in the org hands out admin-level power (isAdminLevel over the permissions the
 * roles carry), read as the route's decision before the TOTP gate. Custom roles are looked up only for members
 * of the org: for anyone else (who then gets 404 from the operation itself) only the built-ins count, whose
 * permissions are public, so being asked for a step-up tells a non-member nothing about the org's roles.
 * Unknown names carry nothing (the operation answers 400 for them).
 */
export async function grantsAdminLevel(tx: Tx, caller: Caller, orgId: string, names: readonly string[]): Promise<boolean> {
  let custom: ReadonlyMap<string, CustomRole> = new Map();
  try {
    custom = (await loadAccess(tx, caller, orgId, { roles: true })).custom;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
  }
  return isAdminLevel(permissionsOf(names.map((n) => n.toLowerCase()), customPermissions(custom)));
}

/**
 * Inside the granting transaction, on what it read: 409 when the permissions granted are admin-level but the
 * request was not cleared as such by the TOTP gate — a role changed between the route's decision and this
 * transaction (or a caller other than the routes skipped the gate). Nothing is changed; a repeat is gated.
 */
export function requireAdminLevelCleared(permissions: readonly string[], o: GrantClearance): void {
  if (!o.adminLevelCleared && isAdminLevel(permissions)) {
    throw new AppError('conflict', 'This change grants admin-level permissions (members, roles, policies, invites or deleting the organization), which needs a TOTP-confirmed session; the roles changed while the request was checked. Repeat the request.');
  }
}

/** Records a refused org operation (403) in the audit log, then rethrows. Runs outside the transaction. */
export async function auditDenials<T>(audit: AuditService, caller: Caller, action: string, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError && err.code === 'forbidden') {
      await audit.record({
        tenantId: caller.tenant.id, actor: actorOf(caller.principal), action, target, outcome: 'denied', ...caller.ctx,
        metadata: { reason: err.message },
      });
    }
    throw err;
  }
}
