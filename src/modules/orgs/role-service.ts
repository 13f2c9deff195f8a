import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import type { AuditService } from '../audit/service.js';
import type { AuthzCache } from '../authz/cache.js';
import { auditDenials, loadAccess, requireAdminLevelCleared, requirePermission, type Access, type Caller, type GrantClearance } from './access.js';
import { roleStore, type CustomRole } from './role-store.js';
import { memberStore } from './store.js';
import { inviteStore } from './invite-store.js';
import { BUILT_IN_PERMISSIONS, BUILT_IN_ROLES, holdsAll } from './roles.js';
import { MAX_CUSTOM_ROLES, type CreateRoleInput, type UpdateRoleInput } from './schemas.js';

export interface RoleView {
  id: string | null;
  name: string;
  permissions: string[];
  description: string | null;
  builtIn: boolean;
}

const BUILT_IN_DESCRIPTIONS: Record<string, string> = {
  owner: 'Everything in the organization, including deleting it and making owners.',
  admin: 'Manages the organization, its members, roles, policies and invites; cannot delete it or touch owners.',
  member: 'Sees the organization, its members and its roles.',
};

const view = (r: CustomRole): RoleView => ({ id: r.id, name: r.name, permissions: r.permissions, description: r.description, builtIn: false });
const roleNotFound = () => new AppError('not_found', 'No such role in this organization.');
const nameTaken = (name: string) => new AppError('conflict', `A role named "${name}" already exists in this organization.`);

/** 403 unless the caller holds every permission: nobody creates, edits or deletes a role beyond their own (SECURITY AZ-03). */
function requireHeld(a: Access, permissions: readonly string[]): void {
  if (!holdsAll(a.permissions, permissions)) {
    throw new AppError('forbidden', 'A role may only carry permissions that your own roles grant.');
  }
}

export type RoleService = ReturnType<typeof createRoleService>;

/** Custom roles per org; built-in roles are listed but immutable. Changes drop the org from the decision cache. */
export function createRoleService(deps: { sql: Sql; clock: Clock; audit: AuditService; cache: AuthzCache }) {
  const { sql, clock, audit, cache } = deps;
  const record = (c: Caller, action: string, target: string, metadata: Record<string, unknown>) =>
    audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action, target, outcome: 'success', ...c.ctx, metadata });

  return {
    /** Built-in roles first, then custom roles oldest first. */
    async list(c: Caller, orgId: string, paging: { limit: number; offset: number }): Promise<{ items: RoleView[]; total: number }> {
      const custom = await sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'roles:read');
        return roleStore.list(tx, orgId);
      });
      const all: RoleView[] = [
        ...BUILT_IN_ROLES.map((name) => ({ id: null, name, permissions: [...BUILT_IN_PERMISSIONS[name]], description: BUILT_IN_DESCRIPTIONS[name]!, builtIn: true })),
        ...custom.map(view),
      ];
      return { items: all.slice(paging.offset, paging.offset + paging.limit), total: all.length };
    },

    /** Creates a custom role; one carrying admin-level permissions (isAdminLevel) needs the route's TOTP-gate clearance. */
    async create(c: Caller, orgId: string, input: CreateRoleInput, o: GrantClearance = {}): Promise<RoleView> {
      const permissions = [...new Set(input.permissions)];
      const role = await auditDenials(audit, c, 'role.create', orgId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'roles:write');
        requireHeld(a, permissions);
        requireAdminLevelCleared(permissions, o);
        if ((await roleStore.count(tx, orgId)) >= MAX_CUSTOM_ROLES) {
          throw new AppError('conflict', `An organization has at most ${MAX_CUSTOM_ROLES} custom roles.`);
        }
        const r = await roleStore.insert(tx, { tenantId: c.tenant.id, orgId, name: input.name, description: input.description ?? null, permissions, now: clock.now() });
        if (!r) throw nameTaken(input.name);
        return r;
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'role.create', role.id, { orgId, name: role.name, permissions });
      return view(role);
    },

    /**
     * Renames and/or changes a custom role; members and open invites holding it follow a rename. New permissions
     * that are admin-level (isAdminLevel) need the route's TOTP-gate clearance; a rename alone grants nothing.
     */
    async update(c: Caller, orgId: string, roleId: string, input: UpdateRoleInput, o: GrantClearance = {}): Promise<RoleView> {
      const { before, after } = await auditDenials(audit, c, 'role.update', roleId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'roles:write');
        const current = await roleStore.byId(tx, orgId, roleId);
        if (!current) throw roleNotFound();
        const permissions = input.permissions ? [...new Set(input.permissions)] : current.permissions;
        requireHeld(a, current.permissions);
        requireHeld(a, permissions);
        if (input.permissions) requireAdminLevelCleared(permissions, o);
        const name = input.name ?? current.name;
        const description = input.description === undefined ? current.description : input.description;
        const updated = await roleStore.update(tx, orgId, roleId, { name, description, permissions }, clock.now());
        if (!updated) throw nameTaken(name);
        if (updated.name !== current.name) {
          await memberStore.renameRole(tx, orgId, current.name, updated.name, clock.now());
          await inviteStore.renameRole(tx, orgId, current.name, updated.name);
        }
        return { before: current, after: updated };
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'role.update', roleId, { orgId, nameBefore: before.name, name: after.name, permissionsBefore: before.permissions, permissions: after.permissions });
      return view(after);
    },

    /** Deletes a custom role and takes it away from members and open invites (one left without roles keeps `member`). */
    async delete(c: Caller, orgId: string, roleId: string): Promise<void> {
      const role = await auditDenials(audit, c, 'role.delete', roleId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'roles:write');
        const current = await roleStore.byId(tx, orgId, roleId);
        if (!current) throw roleNotFound();
        requireHeld(a, current.permissions);
        await roleStore.delete(tx, orgId, roleId);
        await memberStore.dropRole(tx, orgId, current.name, clock.now());
        await inviteStore.dropRole(tx, orgId, current.name);
        return current;
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'role.delete', roleId, { orgId, name: role.name, permissions: role.permissions });
    },
  };
}
