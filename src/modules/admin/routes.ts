import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses, IdParam, Paging } from '../../http/schemas.js';
import type { AdminPrincipal } from '../../http/principal.js';
import {
  AdminTenant, AdminTenantList, AdminUser, AdminUserList, AuditPage, AuditQuery, CreateTenantBody, toAdminTenant,
  toAdminUser, toAuditEntry, UpdateTenantBody, UpdateUserBody, UsersQuery,
} from './schemas.js';

function admin(req: FastifyRequest): AdminPrincipal {
  // The guard admits only ak_ keys on auth: 'admin' routes; this is the type-level half of that.
  if (req.auth?.kind !== 'admin') throw new AppError('forbidden', 'The admin plane accepts admin keys (ak_…) only.');
  return req.auth;
}

const notFound = (what: string) => new AppError('not_found', `No such ${what}.`);

/** The admin plane: every route takes an admin key (Authorization: Bearer ak_…) and nothing else. */
export const adminRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = deps.services.admin;
  const tags = ['Admin'];
  const tenantParams = IdParam('id');

  r.get('/admin/tenants', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListTenants', tags, summary: 'List tenants.', querystring: Paging.strict(),
      response: { 200: AdminTenantList, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const { items, total } = await svc.listTenants(req.query.limit, req.query.offset);
    return { items: items.map(toAdminTenant), total, limit: req.query.limit, offset: req.query.offset };
  });

  r.post('/admin/tenants', {
    config: { auth: 'admin', idempotent: true },
    schema: {
      operationId: 'adminCreateTenant', tags, summary: 'Create a tenant.',
      description: 'Settings not given take their defaults. 409 conflict when the slug is taken.',
      body: CreateTenantBody,
      response: { 201: AdminTenant, ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429, 503) },
    },
  }, async (req, reply) => reply.code(201).send(toAdminTenant(await svc.createTenant(admin(req), req.body, auditContext(req)))));

  r.get('/admin/tenants/:id', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminGetTenant', tags, summary: 'One tenant with its settings.', params: tenantParams,
      response: { 200: AdminTenant, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const t = await svc.getTenant(req.params.id);
    if (!t) throw notFound('tenant');
    return toAdminTenant(t);
  });

  r.patch('/admin/tenants/:id', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminUpdateTenant', tags, summary: 'Rename a tenant and/or change some of its settings.',
      description: 'settings is merged: only the keys sent change. Unknown keys, wildcard or non-https origins (except localhost) → 400.',
      params: tenantParams, body: UpdateTenantBody,
      response: { 200: AdminTenant, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const t = await svc.updateTenant(admin(req), req.params.id, req.body, auditContext(req));
    if (!t) throw notFound('tenant');
    return toAdminTenant(t);
  });

  r.get('/admin/users', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListUsers', tags, summary: 'List the users of one tenant (?tenantId= uuid or slug).', querystring: UsersQuery,
      response: { 200: AdminUserList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const page = await svc.listUsers(req.query.tenantId, req.query.limit, req.query.offset);
    if (!page) throw notFound('tenant');
    return { items: page.items.map(toAdminUser), total: page.total, limit: req.query.limit, offset: req.query.offset };
  });

  r.patch('/admin/users/:id', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminUpdateUser', tags, summary: 'Disable or enable a user, or change their email (found by id in any tenant).',
      description: 'Disabling ends every session of the user and stops their API keys on every instance at once; sign-in is refused from then on. '
        + 'A new email is set verified (the operator vouches for it) and ends every session of the user; 409 email_taken when another account of the tenant holds it. '
        + 'A deleted user (a tombstone) can be neither enabled nor given an address (409).',
      params: IdParam('id'), body: UpdateUserBody,
      response: { 200: AdminUser, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const u = await svc.updateUser(admin(req), req.params.id, req.body, auditContext(req));
    if (!u) throw notFound('user');
    return toAdminUser(u);
  });

  r.get('/admin/audit', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListAudit', tags, summary: 'Read the audit log, newest first (append-only: there is no route to change it).',
      description: 'Filters: tenantId, actorId, action, from (inclusive), to (exclusive); pass nextCursor as cursor for the next page.',
      querystring: AuditQuery,
      response: { 200: AuditPage, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const q = req.query;
    const page = await svc.listAudit({
      tenantId: q.tenantId, actorId: q.actorId, action: q.action, limit: q.limit, cursor: q.cursor,
      from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined,
    });
    return { items: page.items.map(toAuditEntry), nextCursor: page.nextCursor };
  });
};
