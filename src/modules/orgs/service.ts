import type { Config } from '../../config.js';
import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import type { AuditService } from '../audit/service.js';
import type { AuthzCache } from '../authz/cache.js';
import type { Mailer } from '../mail/mailer.js';
import type { SessionService } from '../sessions/service.js';
import { createInviteService, type InviteService } from './invite-service.js';
import { createOrgService, type OrgService } from './org-service.js';
import { createPolicyService, type PolicyService } from './policy-service.js';
import { createRoleService, type RoleService } from './role-service.js';
import { grantsAdminLevel, type Caller } from './access.js';
import { isAdminLevel, permissionsOf } from './roles.js';
import { memberStore } from './store.js';
import type { Events } from '../webhooks/events.js';

export interface OrgServices {
  orgs: OrgService;
  roles: RoleService;
  policies: PolicyService;
  invites: InviteService;
  /**
   * Whether the user holds admin-level roles (isAdminLevel over their permissions, whatever the roles are called)
   * in any org of the tenant: the MFA gate's requireMfaForAdmins.
   */
  isOrgAdmin(tenantId: string, userId: string): Promise<boolean>;
  /** The route's decision before the TOTP gate: whether giving these roles in the org is admin-level (see grantsAdminLevel). */
  grantsAdminLevel(c: Caller, orgId: string, roles: readonly string[]): Promise<boolean>;
}

/** The org capability's services; each drops the changed org from the decision cache after committing. */
export function createOrgServices(deps: { config: Readonly<Config>; sql: Sql; clock: Clock; audit: AuditService; cache: AuthzCache; sessions: SessionService; mailer: Mailer; events?: Events }): OrgServices {
  const { sql } = deps;
  return {
    orgs: createOrgService(deps),
    roles: createRoleService(deps),
    policies: createPolicyService(deps),
    invites: createInviteService(deps),
    isOrgAdmin: async (tenantId, userId) => (await sql.tx(tenantId, (tx) => memberStore.rolesEverywhere(tx, userId)))
      .some((m) => isAdminLevel(permissionsOf(m.roles, m.custom))),
    grantsAdminLevel: (c, orgId, roles) => sql.tx(c.tenant.id, (tx) => grantsAdminLevel(tx, c, orgId, roles)),
  };
}
