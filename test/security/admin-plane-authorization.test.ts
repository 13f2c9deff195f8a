import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { adminKeyStore } from '../../src/modules/admin-keys/store.js';

/**
 * SECURITY KEY-06: the admin plane accepts admin keys only — a user's access token or ck_ key → 403,
 * no credential → 401, an expired or revoked admin key → 401 — and an admin key is refused on the
 * user plane (401). Checked on every operation the OpenAPI document puts behind the admin key.
 */
let t: TestApp;
let admin: { id: string; key: string };
let user: { id: string; token: string; apiKey: string };
let tenantId: string;

beforeAll(async () => {
  t = await createTestApp();
  admin = await t.deps.adminKeys.create({ name: 'matrix', expiresInDays: 30 });
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: 'owner@example.com', password: 'correct horse battery staple' } });
  expect(res.statusCode, res.body).toBe(200);
  user = { id: res.data.user.id, token: res.data.tokens.accessToken, apiKey: res.data.apiKey };
  tenantId = (await t.deps.tenants.create({ slug: 'matrix-t', name: 'Matrix' })).id;
});
afterAll(async () => { await t?.close(); });

let slugs = 0;
/** My admin routes with a valid request each, and the status an admin key gets. */
const ownRoutes = () => [
  { method: 'GET', url: '/auth/admin/tenants', ok: 200 },
  { method: 'POST', url: '/auth/admin/tenants', json: { slug: `matrix-${++slugs}`, name: 'M' }, ok: 201 },
  { method: 'GET', url: `/auth/admin/tenants/${tenantId}`, ok: 200 },
  { method: 'PATCH', url: `/auth/admin/tenants/${tenantId}`, json: { name: 'Matrix renamed' }, ok: 200 },
  { method: 'GET', url: '/auth/admin/users?tenantId=default', ok: 200 },
  { method: 'PATCH', url: `/auth/admin/users/${user.id}`, json: { disabled: false }, ok: 200 },
  { method: 'GET', url: '/auth/admin/audit', ok: 200 },
] as const;

/** Every operation of the served OpenAPI document secured by the admin key (bans included), ids filled in. */
async function adminOperations(): Promise<{ method: string; url: string; template: RegExp }[]> {
  const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data as { paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>> };
  const ops: { method: string; url: string; template: RegExp }[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!op.security?.some((s) => 'adminKey' in s)) continue;
      ops.push({ method: method.toUpperCase(), url: path.replace(/\{[^}]+\}/g, tenantId), template: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`) });
    }
  }
  return ops;
}

describe('KEY-06: the admin plane accepts only admin keys', () => {
  it('the OpenAPI document puts every admin route behind the admin key, and my routes are all there', async () => {
    const ops = await adminOperations();
    for (const r of ownRoutes()) {
      const path = r.url.split('?')[0]!;
      expect(ops.some((o) => o.method === r.method && o.template.test(path)), `${r.method} ${path}`).toBe(true);
    }
  });

  it('an admin key succeeds on each admin route', async () => {
    for (const r of ownRoutes()) {
      const res = await call(t.app, { method: r.method, url: r.url, json: 'json' in r ? r.json : undefined, token: admin.key });
      expect(res.statusCode, `${r.method} ${r.url}: ${res.body}`).toBe(r.ok);
    }
  });

  it('a user access token → 403, a user ck_ key (Bearer or X-API-Key) → 403, nothing → 401, on every admin operation', async () => {
    const before = (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM tenants')).rows[0]!.n;
    for (const op of await adminOperations()) {
      const json = op.method === 'GET' || op.method === 'DELETE' ? undefined : { slug: 'never-created', name: 'X', disabled: true };
      const label = `${op.method} ${op.url}`;
      const asUser = await call(t.app, { method: op.method as 'GET', url: op.url, json, token: user.token });
      expect(asUser.statusCode, `user token ${label}`).toBe(403);
      expect(asUser.data.error).toBe('forbidden');
      const asKey = await call(t.app, { method: op.method as 'GET', url: op.url, json, token: user.apiKey });
      expect(asKey.statusCode, `ck_ bearer ${label}`).toBe(403);
      const asKeyHeader = await call(t.app, { method: op.method as 'GET', url: op.url, json, headers: { 'x-api-key': user.apiKey } });
      expect(asKeyHeader.statusCode, `ck_ header ${label}`).toBe(403);
      const none = await call(t.app, { method: op.method as 'GET', url: op.url, json });
      expect(none.statusCode, `no credential ${label}`).toBe(401);
      expect(none.data.error).toBe('unauthorized');
    }
    expect((await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM tenants')).rows[0]!.n).toBe(before);
    const disabled = await t.stores.sql.ownerQuery<{ disabled: boolean }>('SELECT disabled FROM users WHERE id = $1', [user.id]);
    expect(disabled.rows[0]!.disabled).toBe(false);
  });

  it('an expired, revoked, altered or unknown admin key → 401 on the admin plane', async () => {
    const expiring = await t.deps.adminKeys.create({ name: 'short', expiresInDays: 1 });
    const revoked = await t.deps.adminKeys.create({ name: 'revoked', expiresInDays: 30 });
    expect((await call(t.app, { method: 'GET', url: '/auth/admin/tenants', token: revoked.key })).statusCode).toBe(200);
    await t.deps.sql.tx(null, (tx) => adminKeyStore.revoke(tx, revoked.id, t.clock.now()));
    const flip = admin.key.slice(0, -1) + (admin.key.endsWith('A') ? 'B' : 'A');
    t.clock.advance(86_400_000 + 1000);
    for (const key of [expiring.key, revoked.key, flip, `ak_${'A'.repeat(43)}`, 'ak_short']) {
      const res = await call(t.app, { method: 'GET', url: '/auth/admin/tenants', token: key });
      expect(res.statusCode, key.slice(0, 8)).toBe(401);
      expect(res.data.error).toBe('invalid_token');
    }
    expect((await call(t.app, { method: 'GET', url: '/auth/admin/tenants', token: admin.key })).statusCode).toBe(200);
  });

  it('an admin key on user routes → 401 (it is not a user credential)', async () => {
    for (const [method, url, json] of [
      ['GET', '/auth/user', undefined], ['GET', '/auth/api-keys', undefined], ['GET', '/auth/user/api-key', undefined],
      ['POST', '/auth/api-keys', { name: 'x', scopes: ['*'] }], ['POST', '/auth/user/api-key/regenerate', undefined],
      ['GET', '/auth/sessions', undefined], ['DELETE', '/auth/sessions', undefined],
    ] as const) {
      const res = await call(t.app, { method, url, json, token: admin.key });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
    }
    expect((await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: admin.key } })).data).toEqual({ valid: false });
  });

  it('admin keys cannot be made without an expiry or beyond 365 days', async () => {
    await expect(t.deps.adminKeys.create({ name: 'forever', expiresInDays: undefined as unknown as number })).rejects.toThrow(/expires-in-days/);
    await expect(t.deps.adminKeys.create({ name: 'long', expiresInDays: 400 })).rejects.toThrow(/365/);
    await expect(t.deps.adminKeys.create({ name: 'zero', expiresInDays: 0 })).rejects.toThrow(/365/);
  });
});
