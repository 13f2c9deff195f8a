import type { Sql } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import type { AuditService } from '../audit/service.js';
import type { AuthzCache } from '../authz/cache.js';
import { auditDenials, loadAccess, requirePermission, type Access, type Caller } from './access.js';
import { policyStore, type StoredPolicy } from './policy-store.js';
import { holdsAll } from './roles.js';
import { MAX_POLICIES, type CreatePolicyInput } from './schemas.js';
import type { Events } from '../webhooks/events.js';

/**
 * No escalation through policies (SECURITY AZ-03): adding an allow or removing a deny widens what others may
 * do, so it needs the caller to hold every permission the policy's actions name. Adding a deny or removing
 * an allow only narrows, and needs `policies:write` alone.
 */
function requireHeldToWiden(a: Access, change: 'add' | 'remove', policy: { effect: 'allow' | 'deny'; actions: readonly string[] }): void {
  const widens = (change === 'add') === (policy.effect === 'allow');
  if (widens && !holdsAll(a.permissions, policy.actions)) {
    throw new AppError('forbidden', change === 'add'
      ? 'An allow policy may only name actions that your own roles grant.'
      : 'Removing a deny policy needs every permission it restricts.');
  }
}

export type PolicyService = ReturnType<typeof createPolicyService>;

/** ABAC policies per org, validated on write (conditions by the zod schema); changes drop the org from the decision cache. */
export function createPolicyService(deps: { sql: Sql; clock: Clock; audit: AuditService; cache: AuthzCache; events?: Events }) {
  const { sql, clock, audit, cache } = deps;
  const record = (c: Caller, action: string, target: string, metadata: Record<string, unknown>) =>
    audit.record({ tenantId: c.tenant.id, actor: actorOf(c.principal), action, target, outcome: 'success', ...c.ctx, metadata });

  return {
    async list(c: Caller, orgId: string, paging: { limit: number; offset: number }): Promise<{ items: StoredPolicy[]; total: number }> {
      return sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId);
        requirePermission(a, 'policies:read');
        return policyStore.list(tx, orgId, paging.limit, paging.offset);
      });
    },

    async create(c: Caller, orgId: string, input: CreatePolicyInput): Promise<StoredPolicy> {
      const actions = [...new Set(input.actions)];
      const policy = await auditDenials(audit, c, 'policy.create', orgId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'policies:write');
        requireHeldToWiden(a, 'add', { effect: input.effect, actions });
        if ((await policyStore.count(tx, orgId)) >= MAX_POLICIES) {
          throw new AppError('conflict', `An organization has at most ${MAX_POLICIES} policies.`);
        }
        const p = await policyStore.insert(tx, {
          tenantId: c.tenant.id, orgId, name: input.name, description: input.description ?? null, effect: input.effect, actions,
          resources: input.resources === undefined || input.resources === null ? null : [...new Set(input.resources)],
          condition: input.condition ?? null, createdBy: c.principal.userId, now: clock.now(),
        });
        if (!p) throw new AppError('conflict', `A policy named "${input.name}" already exists in this organization.`);
        await deps.events?.emit(tx, c.tenant.id, 'policy.changed', { orgId, policyId: p.id, change: 'created', name: p.name, effect: p.effect });
        return p;
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'policy.create', policy.id, { orgId, name: policy.name, effect: policy.effect, actions: policy.actions, resources: policy.resources });
      return policy;
    },

    async delete(c: Caller, orgId: string, policyId: string): Promise<void> {
      const policy = await auditDenials(audit, c, 'policy.delete', policyId, () => sql.tx(c.tenant.id, async (tx) => {
        const a = await loadAccess(tx, c, orgId, { lock: true });
        requirePermission(a, 'policies:write');
        const current = await policyStore.byId(tx, orgId, policyId);
        if (!current) throw new AppError('not_found', 'No such policy in this organization.');
        requireHeldToWiden(a, 'remove', current);
        await policyStore.delete(tx, orgId, policyId);
        await deps.events?.emit(tx, c.tenant.id, 'policy.changed', { orgId, policyId, change: 'deleted', name: current.name, effect: current.effect });
        return current;
      }));
      await cache.invalidate(c.tenant.id, orgId);
      await record(c, 'policy.delete', policyId, { orgId, name: policy.name, effect: policy.effect, actions: policy.actions });
    },
  };
}
