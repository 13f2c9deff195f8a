import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { raiseLimits, register } from '../helpers/identity.js';

/** SECURITY AZ-01: tenant selection by X-Tenant-ID, and tenant_mismatch for credentials of another tenant. */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.deps.tenants.create({ slug: 'az01-t2', name: 'T2' });
  await raiseLimits(t);
  await raiseLimits(t, 'az01-t2');
});
afterAll(async () => { await t?.close(); });

const email = `a-${randomUUID().slice(0, 8)}@example.com`;
const login = (password: string, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/login', json: { email, password }, headers });

describe('AZ-01 tenant selection', () => {
  it('one address registers independently in two tenants; each password opens its own tenant only', async () => {
    const inT = await register(t.app, { email, password: 'tenant one password 1' });
    const inT2 = await register(t.app, { email, password: 'tenant two password 2', tenant: 'az01-t2' });
    expect(inT.userId).not.toBe(inT2.userId);
    expect((await login('tenant two password 2')).statusCode).toBe(401);
    expect((await login('tenant one password 1', { 'x-tenant-id': 'az01-t2' })).statusCode).toBe(401);
    expect((await login('tenant one password 1')).statusCode).toBe(200);

    // A credential of T with X-Tenant-ID naming T2: 403 tenant_mismatch, on org routes too.
    for (const [method, url] of [['GET', '/auth/orgs'], ['POST', '/auth/authorize'], ['GET', '/auth/user']] as const) {
      const res = await call(t.app, { method, url, token: inT.accessToken, headers: { 'x-tenant-id': 'az01-t2' }, ...(method === 'POST' ? { json: { action: 'a:b' } } : {}) });
      expect(res.statusCode, url).toBe(403);
      expect(res.data.error).toBe('tenant_mismatch');
    }
  });

  it('malformed or unknown X-Tenant-ID values are 400 or 404, never the default tenant', async () => {
    for (const value of ['../az01-t2', 'az01-t2;', randomUUID(), 'x'.repeat(5000), 'AZ01-T2 ', '%2e%2e']) {
      const res = await login('tenant one password 1', { 'x-tenant-id': value });
      expect([400, 404, 431], value.slice(0, 20)).toContain(res.statusCode);
      expect(res.data?.tokens).toBeUndefined();
    }
  });
});
