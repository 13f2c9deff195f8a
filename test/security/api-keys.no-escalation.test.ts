import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { AppError } from '../../src/http/errors.js';
import type { ApiKeyPrincipal, SessionPrincipal } from '../../src/http/principal.js';

/**
 * SECURITY KEY-02 (nobody mints a key for someone else or sets privileged fields) and KEY-05 (scopes
 * are enforced and a key cannot escalate), over HTTP and at the service, which MCP tools and the CLI
 * call without the route's guard and step-up gate in front.
 */
let t: TestApp;
const PASSWORD = 'correct horse battery staple';
let n = 0;
const ctx = { ip: '203.0.113.9', userAgent: 'vitest', requestId: 'req-escalation' };

async function register(headers: Record<string, string> = {}) {
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `esc${++n}@example.com`, password: PASSWORD }, headers });
  expect(res.statusCode, res.body).toBe(200);
  return { userId: res.data.user.id as string, token: res.data.tokens.accessToken as string, apiKey: res.data.apiKey as string };
}

const keyCount = async () => (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM api_keys')).rows[0]!.n;
const keysOf = async (userId: string) => (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1', [userId])).rows[0]!.n;

async function appError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t?.close(); });

describe('KEY-02: a key is always minted for the caller, with validated fields only', () => {
  it('unauthenticated → 401 and nothing created', async () => {
    const u2 = await register();
    const before = await keyCount();
    const res = await call(t.app, { method: 'POST', url: '/auth/api-keys', json: { name: 'x', scopes: ['*'], userId: u2.userId } });
    expect(res.statusCode).toBe(401);
    expect(await keyCount()).toBe(before);
  });

  it('userId / tenantId / server-only fields in the body → 400, and neither the other user nor the caller gets a key', async () => {
    const u1 = await register();
    const u2 = await register();
    const t2 = await t.deps.tenants.create({ slug: 'esc-t2', name: 'T2' });
    const mine = await keysOf(u1.userId);
    const theirs = await keysOf(u2.userId);
    for (const extra of [{ userId: u2.userId }, { tenantId: t2.id }, { rateLimit: { max: 1e9 } }, { remaining: 1e9 }, { isDefault: true }, { prefix: 'ck_chosen' }]) {
      const res = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u1.token, json: { name: 'x', scopes: ['*'], ...extra } });
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
    }
    expect(await keysOf(u1.userId)).toBe(mine);
    expect(await keysOf(u2.userId)).toBe(theirs);
  });

  it('admin-plane scopes → 403; out-of-range expiry → 400', async () => {
    const u1 = await register();
    const before = await keyCount();
    expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u1.token, json: { name: 'x', scopes: ['admin:*'] } })).statusCode).toBe(403);
    for (const expiresInDays of [100000, -1, 0]) {
      expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u1.token, json: { name: 'x', scopes: ['*'], expiresInDays } })).statusCode).toBe(400);
    }
    expect(await keyCount()).toBe(before);
  });
});

describe('KEY-05: a key with only assets:read', () => {
  it('gets 403 on every management route and on the admin plane', async () => {
    const u = await register();
    const narrow = (await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.token, json: { name: 'narrow', scopes: ['assets:read'] } })).data;
    const before = await keyCount();
    const attempts: [string, string, unknown][] = [
      ['POST', '/auth/api-keys', { name: 'wider', scopes: ['*'] }],
      ['POST', '/auth/api-keys', { name: 'same', scopes: ['assets:read'] }],
      ['DELETE', `/auth/api-keys/${narrow.id}`, undefined],
      ['POST', '/auth/user/api-key/regenerate', undefined],
      ['GET', '/auth/api-keys', undefined],
      ['GET', '/auth/user/api-key', undefined],
      ['GET', '/auth/user', undefined],
      ['GET', '/auth/sessions', undefined],
      ['DELETE', '/auth/sessions', undefined],
      ['POST', '/auth/mfa/disable', { code: '123456' }],
      ['POST', '/auth/password/change', { currentPassword: PASSWORD, newPassword: 'another long passphrase 42' }],
      ['GET', '/auth/admin/tenants', undefined],
    ];
    for (const [method, url, json] of attempts) {
      const res = await call(t.app, { method: method as 'GET', url, json, token: narrow.apiKey });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
      expect(res.data.error).toBe('forbidden');
    }
    expect(await keyCount()).toBe(before);
    // The key itself still works where its scope allows nothing of Authplane's: validation says what it holds.
    expect((await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: narrow.apiKey } })).data.scopes).toEqual(['assets:read']);
  });
});

describe('KEY-05 at the service: a key never creates a key broader than itself', () => {
  async function principalOf(key: string): Promise<ApiKeyPrincipal> {
    const p = await t.deps.services.apiKeys.authenticate(key);
    expect(p).not.toBeNull();
    return p!;
  }

  it('narrower or equal scopes pass; broader scopes, reserved scopes and a revoked parent are refused', async () => {
    const u = await register();
    const svc = t.deps.services.apiKeys;
    const parentKey = (await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.token, json: { name: 'parent', scopes: ['assets:*', 'api_keys:write'] } })).data;
    const parent = await principalOf(parentKey.apiKey);

    const child = await svc.create(parent, { name: 'child', scopes: ['assets:read'] }, ctx);
    expect(child.key.scopes).toEqual(['assets:read']);
    expect((await svc.create(parent, { name: 'same', scopes: ['assets:*', 'api_keys:write'] }, ctx)).key.scopes).toEqual(['assets:*', 'api_keys:write']);

    const before = await keysOf(u.userId);
    for (const scopes of [['*'], ['assets:read', 'user:read'], ['*:read'], ['api_keys:*'], ['admin:*']]) {
      const err = await appError(svc.create(parent, { name: 'wider', scopes }, ctx));
      expect(err.code, scopes.join()).toBe('forbidden');
    }
    // A narrow key cannot regenerate the default key, whose scopes ("*") are broader than its own.
    expect((await appError(svc.regenerateDefault(parent, ctx))).code).toBe('forbidden');
    expect(await keysOf(u.userId)).toBe(before);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.apiKey })).statusCode).toBe(200);

    await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${parentKey.id}`, token: u.token });
    expect((await appError(svc.create(parent, { name: 'orphan', scopes: ['assets:read'] }, ctx))).code).toBe('invalid_token');
  });

  it('a child expires no later than its parent and keeps the parent\'s org binding', async () => {
    const u = await register();
    const svc = t.deps.services.apiKeys;
    const tenant = await t.deps.tenants.defaultTenant();
    const orgId = '11111111-1111-4111-8111-111111111111';
    // A session whose token carries an active org (the orgs module mints it after checking membership).
    const session: SessionPrincipal = {
      kind: 'session', tenantId: tenant.id, userId: u.userId, sessionId: '22222222-2222-4222-8222-222222222222', jti: 'j',
      amr: ['pwd'], orgId, roles: ['member'], authTime: t.clock.nowMs(), stepUpAt: null, viaCookie: false, expiresAt: t.clock.nowMs() + 60_000,
    };
    const bound = await svc.create(session, { name: 'org', scopes: ['*'], expiresInDays: 2, orgId }, ctx);
    expect(bound.key.orgId).toBe(orgId);
    expect((await appError(svc.create(session, { name: 'other org', scopes: ['*'], orgId: '33333333-3333-4333-8333-333333333333' }, ctx))).code).toBe('forbidden');

    const parent = await principalOf(bound.plaintext);
    expect(parent.orgId).toBe(orgId);
    const child = await svc.create(parent, { name: 'child', scopes: ['assets:read'], expiresInDays: 365 }, ctx);
    expect(child.key.orgId).toBe(orgId);
    expect(child.key.expiresAt!.getTime()).toBe(bound.key.expiresAt!.getTime());
    const noExpiry = await svc.create(parent, { name: 'forever?', scopes: ['assets:read'] }, ctx);
    expect(noExpiry.key.expiresAt!.getTime()).toBe(bound.key.expiresAt!.getTime());
    expect((await appError(svc.create(parent, { name: 'unbound', scopes: ['assets:read'], orgId: '33333333-3333-4333-8333-333333333333' }, ctx))).code).toBe('forbidden');
    const validated = await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: child.plaintext } });
    expect(validated.data).toMatchObject({ valid: true, orgId, expiresAt: bound.key.expiresAt!.toISOString() });
  });

  it('the service validates its input like the route (MCP and CLI callers)', async () => {
    const u = await register();
    const p = await principalOf(u.apiKey);
    for (const input of [{ name: '', scopes: ['*'] }, { name: 'x', scopes: [] }, { name: 'x', scopes: ['BAD SCOPE'] }, { name: 'x', scopes: ['*'], expiresInDays: 0 }]) {
      expect((await appError(t.deps.services.apiKeys.create(p, input, ctx))).code).toBe('validation_failed');
    }
  });
});
