import type { Sql } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import { actorOf, type AdminPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { AuditFilter } from '../audit/store.js';
import type { TenantService } from '../tenants/service.js';
import { tenantStore } from '../tenants/store.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore, type User } from '../users/store.js';
import type { UserService } from '../users/service.js';
import type { ApiKeyService } from '../api-keys/service.js';
import type { TenantSettingsPatch } from './schemas.js';
import type { EmailChangeService } from '../email-change/service.js';
import { AppError } from '../../http/errors.js';

export type AdminService = ReturnType<typeof createAdminService>;

/**
 * The admin plane (ak_ keys): tenants, users and the audit log across tenants. Every change is
 * audited with the admin key as actor, in the affected tenant's chain.
 */
export function createAdminService(deps: {
  sql: Sql; tenants: TenantService; audit: AuditService; users: UserService; apiKeys: ApiKeyService;
  emailChange: Pick<EmailChangeService, 'setByOperator'>;
}) {
  const { sql, tenants, audit, users, apiKeys } = deps;

  const record = (admin: AdminPrincipal, ctx: AuditContext, e: { tenantId: string; action: string; target: string; metadata: Record<string, unknown> }) =>
    audit.record({ ...e, actor: actorOf(admin), outcome: 'success', ...ctx });

  /** The tenant, read from Postgres (not the cache); null if unknown. */
  const getTenant = (id: string): Promise<Tenant | null> => sql.tx(null, (tx) => tenantStore.byId(tx, id));

  const api = {
    listTenants: (limit: number, offset: number) => tenants.list(limit, offset),
    getTenant,

    /** Creates a tenant (settings default where not given); 409 conflict when the slug is taken. */
    async createTenant(admin: AdminPrincipal, input: { slug: string; name: string; settings?: TenantSettingsPatch }, ctx: AuditContext): Promise<Tenant> {
      const t = await tenants.create(input);
      await record(admin, ctx, { tenantId: t.id, action: 'tenant.create', target: t.id, metadata: { slug: t.slug, name: t.name, settings: input.settings ?? {} } });
      return t;
    },

    /** Renames and/or merges settings (only the keys given change); null if unknown. */
    async updateTenant(admin: AdminPrincipal, id: string, patch: { name?: string; settings?: TenantSettingsPatch }, ctx: AuditContext): Promise<Tenant | null> {
      // The tenant service merges in one transaction: only the keys sent change.
      const t = await tenants.update(id, { name: patch.name, settings: patch.settings });
      if (!t) return null;
      await record(admin, ctx, { tenantId: t.id, action: 'tenant.update', target: t.id,
        metadata: { ...(patch.name !== undefined ? { name: patch.name } : {}), settingsChanged: Object.keys(patch.settings ?? {}), settings: patch.settings ?? {} } });
      return t;
    },

    /** Users of one tenant (`ref`: uuid or slug); null when the tenant is unknown. */
    async listUsers(ref: string, limit: number, offset: number): Promise<{ items: User[]; total: number } | null> {
      const tenant = await tenants.resolve(ref);
      if (!tenant) return null;
      // A list that tolerates replication lag: the read pool (DATABASE_READ_URL) when configured.
      const page = await sql.readTx(tenant.id, (tx) => userStore.list(tx, limit, offset));
      return { items: page.items.map(publicUser), total: page.total };
    },

    /**
     * Disables or enables a user, found by id across tenants (user ids are globally unique uuids).
     * Disabling ends every session, revokes every API key (with the flag, in one transaction) and drops the
     * keys from every instance's cache, so each of their credentials is refused at once and none returns when
     * the user is enabled again (SECURITY SES-03, TOK-07). Null if unknown.
     */
    async setUserDisabled(admin: AdminPrincipal, userId: string, disabled: boolean, ctx: AuditContext): Promise<User | null> {
      const found = await sql.tx(ALL_TENANTS, (tx) => userStore.byId(tx, userId));
      if (!found) return null;
      // Commits the flag with the keys' revocation, then ends the sessions (users service); then the keys' cached validations go.
      const user = await users.setDisabled(found.tenantId, userId, disabled);
      if (!user) return null;
      if (disabled) await apiKeys.invalidateUser(user.id);
      await record(admin, ctx, { tenantId: user.tenantId, action: disabled ? 'user.disable' : 'user.enable', target: user.id, metadata: { disabled } });
      return user;
    },

    /**
     * PATCH /admin/users/{id}: sets the address (email change by an operator) and/or the disabled flag, found by
     * id across tenants. The address goes first, so a refused address (409) changes nothing. Null if unknown.
     */
    async updateUser(admin: AdminPrincipal, userId: string, patch: { disabled?: boolean; email?: string }, ctx: AuditContext): Promise<User | null> {
      const found = await sql.tx(ALL_TENANTS, (tx) => userStore.byId(tx, userId));
      if (!found) return null;
      if (patch.disabled === false && found.deletedAt) {
        throw new AppError('conflict', 'The user was deleted; a deleted account cannot be enabled.');
      }
      if (patch.email !== undefined) {
        const r = await deps.emailChange.setByOperator(found.tenantId, userId, patch.email);
        if (!r) return null;
        await record(admin, ctx, { tenantId: found.tenantId, action: 'user.email_change', target: userId, metadata: { sessionsEnded: r.sessionsEnded } });
      }
      if (patch.disabled !== undefined) return api.setUserDisabled(admin, userId, patch.disabled, ctx);
      const user = await sql.tx(found.tenantId, (tx) => userStore.byId(tx, userId));
      return user ? publicUser(user) : null;
    },

    /** A newest-first page of audit rows across tenants, filtered. */
    listAudit(filter: Omit<AuditFilter, 'beforeSeq'> & { cursor?: string }) {
      return audit.list(filter);
    },
  };
  return api;
}
