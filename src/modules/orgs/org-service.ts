import type { Sql, Tx } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import type { AuditService } from '../audit/service.js';
import type { AuthzCache } from '../authz/cache.js';
import type { SessionService } from '../sessions/service.js';
import { publicUser, userStore, type User } from '../users/store.js';
import {
  auditDenials, customPermissions, loadAccess, requireAdminLevelCleared, requireGrantable, requirePermission, resolveRoles,
  type Access, type Caller, type GrantClearance,
} from './access.js';
import { policyStore } from './policy-store.js';
import { holdsAll, permissionsOf } from './roles.js';
import { memberStore, orgStore, type Member, type Org } from './store.js';
import type { UpdateMemberInput } from './schemas.js';
import type { Events } from '../webhooks/events.js';

export interface OrgServiceDeps {
  sql: Sql;
  events?: Events;
  clock: Clock;
  audit: AuditService;
  cache: AuthzCache;
  sessions: SessionService;
}

export type OrgWithRoles = Org & { roles: string[] };

/**
 * Member attributes feed `subject.attributes` in conditions, so setting them can satisfy an allow or escape a
 * deny: the caller must hold every action of every policy whose condition reads them (no escalation, AZ-03).
 */
async function requireAttributeControl(tx: Tx, a: Access, orgId: string): Promise<void> {
  for (const p of await policyStore.all(tx, orgId)) {
    if (p.condition !== null && JSON.stringify(p.condition).includes('"subject.attributes.') && !holdsAll(a.permissions, p.actions)) {
      throw new AppError('forbidden', `Member attributes decide the policy "${p.name}", which covers actions your roles do not grant; only someone holding them may change attributes.`);
    }
  }
}

// Only owners who can act count: a disabled owner cannot sign in, so an org left to them alone is ownerless.
const lastOwner = () => new AppError('conflict', 'The organization\'s last active owner can neither leave nor be demoted (disabled owners do not count): make another member an owner first, or delete the organization.');

export type OrgService = ReturnType<typeof createOrgService>;

/**
 * Orgs and their memberships. Every operation reads the caller's membership inside its own transaction
 * (non-member → 404, missing permission → 403); membership changes lock the org row, then drop the
 * org from the decision cache on every instance once committed.
 */
export function createOrgService(deps: OrgServiceDeps) {
  const { sql, clock, audit, cache, events } = deps;
  const record = (c: Caller, action: string, target: string, metadata?: Record<string, unknown>) =>
    audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action, target, outcome: 'success', ...c.ctx, metadata });

  return {
    /**
     * Creates an org with the caller as its only owner. An API key bound to an org acts only inside it: a new
     * org is outside every binding, so such a key is refused (403).
     */
    async create(c: Caller, input: { name: string }): Promise<OrgWithRoles> {
      if (c.principal.kind === 'apiKey' && c.principal.orgId) {
        await audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action: 'org.create', target: null, outcome: 'denied', ...c.ctx,
          metadata: { reason: 'api key bound to an organization', boundOrgId: c.principal.orgId } });
        throw new AppError('forbidden', 'This API key is bound to an organization and acts only inside it; it cannot create organizations. Use an unbound key or a session.');
      }
      const now = clock.now();
      const org = await sql.tx(c.tenant.id, async (tx) => {
        const o = await orgStore.insert(tx, { tenantId: c.tenant.id, name: input.name, createdBy: c.principal.userId, now });
        await memberStore.insert(tx, { tenantId: c.tenant.id, orgId: o.id, userId: c.principal.userId, roles: ['owner'], now });
        await events?.emit(tx, c.tenant.id, 'org.created', { orgId: o.id, name: o.name, createdBy: c.principal.userId });
        return o;
      });
      await record(c, 'org.create', org.id, { name: org.name });
      return { ...org, roles: ['owner'] };
    },

    /** The caller's orgs (only the bound org for an org-bound API key). */
    async list(c: Caller, paging: { limit: number; offset: number }): Promise<{ items: OrgWithRoles[]; total: number }> {
      const p = c.principal;
      return sql.tx(c.tenant.id, async (tx) => {
        if (p.kind === 'apiKey' && p.orgId) {
          const m = await memberStore.get(tx, p.orgId, p.userId);
          const org = m ? await orgStore.byId(tx, p.orgId) : null;
          const items = org && m ? [{ ...org, roles: m.roles }] : [];
          return { items: items.slice(paging.offset, paging.offset + paging.limit), total: items.length };
        }
        return orgStore.listForUser(tx, p.userId, paging.limit, paging.offset);
      });
    },

    async get(c: Caller, orgId: string): Promise<OrgWithRoles> {
      return sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'org:read');
        return { ...a.org, roles: a.member.roles };
      });
    },

    async update(c: Caller, orgId: string, patch: { name: string }): Promise<OrgWithRoles> {
      const org = await auditDenials(audit, c, 'org.update', orgId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'org:update');
        const o = await orgStore.update(tx, orgId, patch, clock.now());
        return { ...o!, roles: a.member.roles };
      }));
      await record(c, 'org.update', orgId, { name: org.name });
      return org;
    },

    /** Deletes the org with its members, roles, policies and invites (owners only; the route is step-up gated). */
    async delete(c: Caller, orgId: string): Promise<void> {
      await auditDenials(audit, c, 'org.delete', orgId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'org:delete');
        await orgStore.delete(tx, orgId);
        await events?.emit(tx, c.tenant.id, 'org.deleted', { orgId, deletedBy: c.principal.userId });
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'org.delete', orgId);
    },

    /**
     * Makes the org the session's active org and mints an access token carrying `org` and `roles` (the
     * session keeps the org for refreshes). Decisions still read the membership itself, never these claims.
     */
    async switchTo(c: Caller, orgId: string): Promise<{ user: User; accessToken: string; expiresIn: number; roles: string[]; orgId: string }> {
      const p = c.principal;
      if (p.kind !== 'session') throw new AppError('forbidden', 'Switching organizations needs an interactive session.');
      const { roles, user, orgId: canonical } = await sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        const u = await userStore.byId(tx, p.userId);
        if (!u || u.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
        return { roles: a.member.roles, user: publicUser(u), orgId: a.org.id };
      });
      const t = await deps.sessions.reissue(c.tenant, p, { org: { orgId: canonical, roles } });
      await record(c, 'org.switch', canonical, { roles });
      return { user, accessToken: t.accessToken, expiresIn: t.expiresIn, roles, orgId: canonical };
    },

    async listMembers(c: Caller, orgId: string, paging: { limit: number; offset: number }): Promise<{ items: Member[]; total: number }> {
      return sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'members:read');
        return memberStore.list(tx, orgId, paging.limit, paging.offset);
      });
    },

    /**
     * Replaces a member's roles and/or attributes. The caller needs `members:write` and must be able to grant
     * every role the member holds and will hold (only owners touch owners); the last active owner keeps `owner`.
     * Admin-level roles (isAdminLevel) are granted only when the route cleared the request through the TOTP gate.
     */
    async updateMember(c: Caller, orgId: string, userId: string, patch: UpdateMemberInput, o: GrantClearance = {}): Promise<Member> {
      const result = await auditDenials(audit, c, 'member.update', `${orgId}/${userId}`, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true, roles: patch.roles !== undefined });
        requirePermission(a, 'members:write');
        const target = await memberStore.get(tx, orgId, userId);
        if (!target) throw new AppError('not_found', 'No such member in this organization.');
        requireGrantable(a, target.roles);
        let roles: string[] | undefined;
        if (patch.roles) {
          roles = resolveRoles(a, patch.roles, 'body.roles');
          requireGrantable(a, roles);
          requireAdminLevelCleared(permissionsOf(roles, customPermissions(a.custom)), o);
          if (target.roles.includes('owner') && !roles.includes('owner') && (await memberStore.countActiveOwnersBesides(tx, orgId, userId)) === 0) throw lastOwner();
        }
        if (patch.attributes !== undefined) await requireAttributeControl(tx, a, orgId);
        await memberStore.update(tx, orgId, userId, { roles, attributes: patch.attributes }, clock.now());
        const after = (await memberStore.get(tx, orgId, userId))!;
        if (roles && (roles.length !== target.roles.length || roles.some((r) => !target.roles.includes(r)))) {
          await events?.emit(tx, c.tenant.id, 'member.role_changed', { orgId, userId, rolesBefore: target.roles, rolesAfter: after.roles });
        }
        return { before: target, after };
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'member.update', userId, {
        orgId, rolesBefore: result.before.roles, rolesAfter: result.after.roles, attributesChanged: patch.attributes !== undefined,
      });
      return result.after;
    },

    /**
     * Removes a member. Anyone may leave (except the last active owner); removing someone else needs
     * `members:delete` and the right to take away each of their roles.
     */
    async removeMember(c: Caller, orgId: string, userId: string): Promise<void> {
      const self = userId.toLowerCase() === c.principal.userId.toLowerCase();
      const removed = await auditDenials(audit, c, 'member.remove', `${orgId}/${userId}`, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        const target = self ? a.member : await memberStore.get(tx, orgId, userId);
        if (!self) {
          requirePermission(a, 'members:delete');
          if (!target) throw new AppError('not_found', 'No such member in this organization.');
          requireGrantable(a, target.roles);
        }
        if (target!.roles.includes('owner') && (await memberStore.countActiveOwnersBesides(tx, orgId, userId)) === 0) throw lastOwner();
        await memberStore.remove(tx, orgId, userId);
        await events?.emit(tx, c.tenant.id, 'member.removed', { orgId, userId, roles: target!.roles, left: self });
        return target!;
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, self ? 'member.leave' : 'member.remove', userId, { orgId, roles: removed.roles });
    },
  };
}
