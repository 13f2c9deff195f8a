import type { FastifyRequest } from 'fastify';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { isUserPrincipal } from '../../http/principal.js';
import type { Caller } from './access.js';
import type { InviteView } from './invite-service.js';
import type { StoredPolicy } from './policy-store.js';
import type { Member, Org } from './store.js';

/** The caller of an org route (a session or a user API key), with its tenant and audit facts. */
export function callerOf(req: FastifyRequest): Caller {
  const p = req.auth;
  if (!isUserPrincipal(p) || !req.tenant) throw new AppError('forbidden', 'This route needs a user credential.');
  return { principal: p, tenant: req.tenant, ctx: auditContext(req) };
}

export const orgView = (o: Org & { roles: string[] }) => ({
  id: o.id, name: o.name, createdAt: o.createdAt.toISOString(), updatedAt: o.updatedAt.toISOString(), roles: o.roles,
});

export const memberView = (m: Member) => ({
  userId: m.userId, email: m.email, name: m.name, roles: m.roles, attributes: m.attributes,
  joinedAt: m.joinedAt.toISOString(), updatedAt: m.updatedAt.toISOString(),
});

export const policyView = (p: StoredPolicy) => ({
  id: p.id, name: p.name, description: p.description, effect: p.effect, actions: p.actions, resources: p.resources,
  condition: p.condition, createdAt: p.createdAt.toISOString(),
});

export const inviteView = (i: InviteView) => ({
  id: i.id, orgId: i.orgId, email: i.email, roles: i.roles, status: i.status,
  createdAt: i.createdAt.toISOString(), expiresAt: i.expiresAt.toISOString(),
});

export const page = <T, U>(p: { items: T[]; total: number }, paging: { limit: number; offset: number }, map: (t: T) => U) => ({
  items: p.items.map(map), total: p.total, limit: paging.limit, offset: paging.offset,
});
