import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { call, type TestApp } from '../../helpers/app.js';
import { newEmail, register, type SignedIn } from '../../helpers/identity.js';

/** Helpers for the org/authz tests: users with verified emails, orgs, members with given roles. */

const tenantHeaders = (tenant?: string): Record<string, string> => (tenant ? { 'x-tenant-id': tenant } : {});

/** Marks the user's email verified (as the email-verification flow would). */
export async function verifyEmail(t: TestApp, userId: string): Promise<void> {
  await t.stores.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [userId]);
}

/** Registers a user with a verified email. */
export async function user(t: TestApp, o: { prefix?: string; tenant?: string; app?: FastifyInstance } = {}): Promise<SignedIn> {
  const u = await register(o.app ?? t.app, { email: newEmail(o.prefix ?? 'user'), tenant: o.tenant });
  await verifyEmail(t, u.userId);
  return u;
}

export async function createOrg(app: FastifyInstance, token: string, name = 'Acme'): Promise<{ id: string; name: string; roles: string[] }> {
  const res = await call(app, { method: 'POST', url: '/auth/orgs', token, json: { name } });
  expect(res.statusCode, res.body).toBe(200);
  return res.data;
}

/** Invites the user with `roles` as `inviterToken` and accepts as the user; returns the invite body. */
export async function join(app: FastifyInstance, inviterToken: string, orgId: string, u: SignedIn, roles: string[]): Promise<void> {
  const inv = await call(app, { method: 'POST', url: `/auth/orgs/${orgId}/invites`, token: inviterToken, json: { email: u.email, roles } });
  expect(inv.statusCode, inv.body).toBe(200);
  const acc = await call(app, { method: 'POST', url: '/auth/invites/accept', token: u.accessToken, json: { token: inv.data.token } });
  expect(acc.statusCode, acc.body).toBe(200);
}

export const authorize = (app: FastifyInstance, token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call(app, { method: 'POST', url: '/auth/authorize', token, json: body, headers });

export const addPolicy = async (app: FastifyInstance, token: string, orgId: string, policy: Record<string, unknown>): Promise<{ id: string }> => {
  const res = await call(app, { method: 'POST', url: `/auth/orgs/${orgId}/policies`, token, json: policy });
  expect(res.statusCode, res.body).toBe(200);
  return res.data;
};

/** Row count of an org table for one org, read as the database owner. */
export async function rows(t: TestApp, table: string, orgId?: string): Promise<number> {
  const r = orgId
    ? await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${table === 'orgs' ? 'id' : 'org_id'} = $1`, [orgId])
    : await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
  return Number(r.rows[0]!.n);
}

export { tenantHeaders };

/** POST /auth/api-keys as the user; returns the plaintext key. */
export async function apiKey(app: FastifyInstance, token: string, scopes: string[], orgId?: string): Promise<string> {
  const res = await call(app, { method: 'POST', url: '/auth/api-keys', token, json: { name: 'test', scopes, ...(orgId ? { orgId } : {}) } });
  expect(res.statusCode, res.body).toBe(201);
  return res.data.apiKey;
}

/** The member's roles as stored. */
export async function storedRoles(t: TestApp, orgId: string, userId: string): Promise<string[] | null> {
  const r = await t.stores.sql.ownerQuery<{ roles: string[] }>('SELECT roles FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
  return r.rows[0]?.roles ?? null;
}
