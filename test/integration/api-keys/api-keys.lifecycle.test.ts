import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import type { Tx } from '../../../src/db/sql.js';

/**
 * User API keys end to end: issued once (sign-up, create, regenerate), stored only as SHA-256 + prefix,
 * listed masked, revoked and expired at once, limited by their scopes, and checked by resource servers
 * through POST /api-key/validate.
 */
let t: TestApp;
const PASSWORD = 'correct horse battery staple';
const KEY_RE = /^ck_[A-Za-z0-9_-]{43}$/;
let n = 0;

interface Registered { userId: string; accessToken: string; refreshToken: string; apiKey?: string; email: string }

async function register(headers: Record<string, string> = {}): Promise<Registered> {
  const email = `k${++n}-${Date.now()}@example.com`;
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD }, headers });
  expect(res.statusCode, res.body).toBe(200);
  return { userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey, email };
}

async function login(email: string): Promise<string> {
  const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: PASSWORD } });
  expect(res.statusCode, res.body).toBe(200);
  return res.data.tokens.accessToken;
}

async function createKey(token: string, body: Record<string, unknown>) {
  return call(t.app, { method: 'POST', url: '/auth/api-keys', token, json: body });
}

const sha = (s: string) => createHash('sha256').update(s).digest();
const count = async (table: string) => (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
const getUser = (key: string, via: 'bearer' | 'header' = 'bearer') =>
  call(t.app, { method: 'GET', url: '/auth/user', ...(via === 'bearer' ? { token: key } : { headers: { 'x-api-key': key } }) });
const validate = (apiKey: string, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey }, headers });

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => { await t?.close(); });

describe('issuing: the key is shown once and never stored', () => {
  it('sign-up returns a default key in AuthResponse.apiKey that works through both headers', async () => {
    const u = await register();
    expect(u.apiKey).toMatch(KEY_RE);
    expect((await getUser(u.apiKey!)).statusCode).toBe(200);
    const viaHeader = await getUser(u.apiKey!, 'header');
    expect(viaHeader.statusCode, viaHeader.body).toBe(200);
    expect(viaHeader.data.id).toBe(u.userId);
  });

  it('a tenant with issueApiKeyOnSignup=false issues no key at sign-up', async () => {
    await t.deps.tenants.create({ slug: 'nokeys', name: 'No keys', settings: { issueApiKeyOnSignup: false } });
    const u = await register({ 'x-tenant-id': 'nokeys' });
    expect(u.apiKey).toBeUndefined();
    const def = await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken });
    expect(def.statusCode).toBe(404);
  });

  it('POST /api-keys answers 201 with the full key once; list and get show the prefix only; the database holds only the SHA-256', async () => {
    const u = await register();
    const res = await createKey(u.accessToken, { name: 'ci', scopes: ['assets:read'], expiresInDays: 30 });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const key: string = res.data.apiKey;
    expect(key).toMatch(KEY_RE);
    expect(res.data).toMatchObject({ name: 'ci', scopes: ['assets:read'], prefix: key.slice(0, 11), isDefault: false, orgId: null, lastUsedAt: null });
    expect(Date.parse(res.data.expiresAt) - t.clock.nowMs()).toBe(30 * 86_400_000);

    const list = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    const def = await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken });
    expect(list.statusCode).toBe(200);
    expect(def.statusCode).toBe(200);
    for (const body of [list.body, def.body]) {
      expect(body).not.toContain(key);
      expect(body).not.toContain(key.slice(11));
      expect(body).not.toContain(sha(key).toString('hex'));
      expect(body).not.toContain(sha(key).toString('base64'));
      expect(body).not.toMatch(/"apiKey"/);
    }
    const listed = list.data.items.find((i: { id: string }) => i.id === res.data.id);
    expect(listed).toMatchObject({ prefix: key.slice(0, 11), keyPrefix: key.slice(0, 11), name: 'ci', label: 'ci', scopes: ['assets:read'] });
    expect(def.data.isDefault).toBe(true);
    expect(def.data.prefix).toBe(u.apiKey!.slice(0, 11));

    // The rows: the plaintext appears nowhere, the lookup holds exactly sha256(key).
    for (const table of ['api_keys', 'api_key_lookup', 'audit_events']) {
      const { rows } = await t.stores.sql.ownerQuery<{ j: string }>(`SELECT row_to_json(x)::text AS j FROM ${table} x`);
      for (const r of rows) {
        expect(r.j).not.toContain(key);
        expect(r.j).not.toContain(key.slice(11));
      }
    }
    const { rows: lookup } = await t.stores.sql.ownerQuery<{ key_hash: Buffer; tenant_id: string }>(
      'SELECT key_hash, tenant_id FROM api_key_lookup WHERE key_id = $1', [res.data.id]);
    expect(lookup).toHaveLength(1);
    expect(Buffer.from(lookup[0]!.key_hash).equals(sha(key))).toBe(true);
    const { rows: row } = await t.stores.sql.ownerQuery<{ prefix: string }>('SELECT prefix FROM api_keys WHERE id = $1', [res.data.id]);
    expect(row[0]!.prefix).toBe(key.slice(0, 11));
  });
});

describe('regenerate, revoke, expiry', () => {
  it('regenerate invalidates the old default key at once and returns the new one once', async () => {
    const u = await register();
    const old = u.apiKey!;
    expect((await getUser(old)).statusCode).toBe(200); // now cached on this instance
    const res = await call(t.app, { method: 'POST', url: '/auth/user/api-key/regenerate', token: u.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.apiKey).toMatch(KEY_RE);
    expect(res.data.apiKey).not.toBe(old);
    expect(res.data).toMatchObject({ isDefault: true, scopes: ['*'], name: 'default' });
    expect((await getUser(old)).statusCode).toBe(401);
    expect((await validate(old)).data).toEqual({ valid: false });
    expect((await getUser(res.data.apiKey)).statusCode).toBe(200);
    const def = await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken });
    expect(def.data.id).toBe(res.data.id);
    expect(def.body).not.toContain(res.data.apiKey);
    const list = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    expect(list.data.items.filter((i: { isDefault: boolean }) => i.isDefault)).toHaveLength(1);
  });

  it('regenerate without a default key creates one', async () => {
    const u = await register();
    const def = await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken });
    expect((await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${def.data.id}`, token: u.accessToken })).statusCode).toBe(204);
    expect((await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken })).statusCode).toBe(404);
    const res = await call(t.app, { method: 'POST', url: '/auth/user/api-key/regenerate', token: u.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    expect((await getUser(res.data.apiKey)).statusCode).toBe(200);
  });

  it('DELETE revokes at once; a second DELETE and another user\'s key id answer 404', async () => {
    const u = await register();
    const other = await register();
    const created = await createKey(u.accessToken, { name: 'tmp', scopes: ['*'] });
    const key = created.data.apiKey;
    expect((await getUser(key)).statusCode).toBe(200);
    const notMine = await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: other.accessToken });
    expect(notMine.statusCode).toBe(404);
    expect((await getUser(key)).statusCode).toBe(200);
    const del = await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: u.accessToken });
    expect(del.statusCode).toBe(204);
    expect((await getUser(key)).statusCode).toBe(401);
    expect((await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: u.accessToken })).statusCode).toBe(404);
    const list = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    expect(list.data.items.map((i: { id: string }) => i.id)).not.toContain(created.data.id);
  });

  it('an expired key is refused (also when it was cached) and validates as {valid:false}', async () => {
    const u = await register();
    const created = await createKey(u.accessToken, { name: 'short', scopes: ['*'], expiresInDays: 1 });
    const key = created.data.apiKey;
    expect((await getUser(key)).statusCode).toBe(200);
    expect((await validate(key)).data.valid).toBe(true);
    t.clock.advance(86_400_000 + 1000);
    const res = await getUser(key);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
    expect((await validate(key)).data).toEqual({ valid: false });
    // Still listed (with its expiry) so the user can see and delete it.
    const list = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: await login(u.email) });
    expect(list.data.items.find((i: { id: string }) => i.id === created.data.id)?.expiresAt).toBe(created.data.expiresAt);
  });

  it('lastUsedAt is written in the background, at most once a minute per key', async () => {
    const u = await register();
    const lastUsed = async () => (await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: u.accessToken })).data.lastUsedAt;
    // GET /user/api-key (Cedros ApiKeyResponse) leaves lastUsedAt out until the first use; the list says null.
    expect(await lastUsed()).toBeUndefined();
    const listed = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    expect(listed.data.items[0].lastUsedAt).toBeNull();
    await getUser(u.apiKey!);
    await t.deps.services.apiKeys.settled();
    const first = await lastUsed();
    expect(Date.parse(first)).toBe(t.clock.nowMs());
    t.clock.advance(30_000);
    await getUser(u.apiKey!);
    await t.deps.services.apiKeys.settled();
    expect(await lastUsed()).toBe(first);
    t.clock.advance(31_000);
    await getUser(u.apiKey!);
    await t.deps.services.apiKeys.settled();
    expect(Date.parse(await lastUsed())).toBe(t.clock.nowMs());
  });
});

describe('the validation hot path', () => {
  it('a cache miss costs one hash and one database statement; a hit costs none', async () => {
    const u = await register();
    const sql = t.stores.sql;
    const original = sql.tx.bind(sql);
    const statements: string[] = [];
    (sql as { tx: typeof sql.tx }).tx = (scope, fn) => original(scope, (tx) => fn({
      query: (text, params) => { if (scope === null) statements.push(text); return tx.query(text, params); },
    }));
    try {
      expect((await getUser(u.apiKey!)).statusCode).toBe(200);
      expect(statements).toEqual(['SELECT * FROM ap_api_key_by_hash($1)']);
      statements.length = 0;
      expect((await getUser(u.apiKey!, 'header')).statusCode).toBe(200);
      expect((await validate(u.apiKey!)).data.valid).toBe(true);
      expect(statements).toEqual([]);
    } finally {
      (sql as { tx: typeof sql.tx }).tx = original;
    }
  });
});

describe('scopes are enforced', () => {
  it('a key acts as its user only within its scopes', async () => {
    const u = await register();
    const readOnly = (await createKey(u.accessToken, { name: 'ro', scopes: ['user:read'] })).data.apiKey;
    const foreign = (await createKey(u.accessToken, { name: 'app', scopes: ['assets:read'] })).data.apiKey;
    const wildcard = (await createKey(u.accessToken, { name: 'keys', scopes: ['api_keys:*'] })).data.apiKey;
    expect((await getUser(readOnly)).statusCode).toBe(200);
    const denied = await call(t.app, { method: 'GET', url: '/auth/sessions', token: readOnly });
    expect(denied.statusCode).toBe(403);
    expect(denied.data.error).toBe('forbidden');
    expect(denied.data.message).toContain('sessions:read');
    expect((await call(t.app, { method: 'GET', url: '/auth/api-keys', token: readOnly })).statusCode).toBe(403);
    expect((await getUser(foreign)).statusCode).toBe(403);
    expect((await call(t.app, { method: 'GET', url: '/auth/api-keys', token: wildcard })).statusCode).toBe(200);
    expect((await getUser(wildcard)).statusCode).toBe(403);
    expect((await call(t.app, { method: 'GET', url: '/auth/sessions', token: u.apiKey! })).statusCode).toBe(200);
  });

  it('no HTTP route lets a key mint a key: create, regenerate and delete refuse keys with 403', async () => {
    const u = await register();
    const created = await createKey(u.accessToken, { name: 'x', scopes: ['*'] });
    const before = await count('api_keys');
    for (const [method, url, json] of [
      ['POST', '/auth/api-keys', { name: 'child', scopes: ['user:read'] }],
      ['POST', '/auth/user/api-key/regenerate', undefined],
      ['DELETE', `/auth/api-keys/${created.data.id}`, undefined],
    ] as const) {
      const res = await call(t.app, { method, url, json, token: u.apiKey! });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
    }
    expect(await count('api_keys')).toBe(before);
    expect((await getUser(created.data.apiKey)).statusCode).toBe(200);
  });
});

describe('POST /api-key/validate', () => {
  it('a live key → {valid, userId, tenantId, scopes, expiresAt}', async () => {
    const u = await register();
    const created = await createKey(u.accessToken, { name: 'rs', scopes: ['assets:read', 'assets:write'], expiresInDays: 7 });
    const res = await validate(created.data.apiKey);
    expect(res.statusCode).toBe(200);
    const tenant = await t.deps.tenants.defaultTenant();
    expect(res.data).toEqual({ valid: true, userId: u.userId, tenantId: tenant.id, scopes: ['assets:read', 'assets:write'], expiresAt: created.data.expiresAt });
    const def = await validate(u.apiKey!);
    expect(def.data).toEqual({ valid: true, userId: u.userId, tenantId: tenant.id, scopes: ['*'] });
  });

  it('unknown, malformed, altered, revoked, expired, disabled-user and other-tenant keys all answer the same {valid:false}', async () => {
    const u = await register();
    const revoked = await createKey(u.accessToken, { name: 'r', scopes: ['*'] });
    await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${revoked.data.id}`, token: u.accessToken });
    const expiring = (await createKey(u.accessToken, { name: 'e', scopes: ['*'], expiresInDays: 1 })).data.apiKey;
    const disabledUser = await register();
    await t.deps.services.users.setDisabled((await t.deps.tenants.defaultTenant()).id, disabledUser.userId, true);
    await t.deps.services.apiKeys.invalidateUser(disabledUser.userId);
    await t.deps.tenants.create({ slug: 'validate-other', name: 'Other' });
    const otherTenant = await register({ 'x-tenant-id': 'validate-other' });
    t.clock.advance(86_400_000 + 1);

    const k = u.apiKey!;
    const altered = k.slice(0, -1) + (k.endsWith('A') ? 'B' : 'A');
    const candidates = ['ck_' + 'A'.repeat(43), 'not-a-key', k.toUpperCase(), `ak_${k.slice(3)}`, altered, revoked.data.apiKey, expiring, disabledUser.apiKey!, otherTenant.apiKey!];
    const bodies = new Set<string>();
    for (const c of candidates) {
      const res = await validate(c);
      expect(res.statusCode, c).toBe(200);
      expect(res.data, c).toEqual({ valid: false });
      bodies.add(res.body);
    }
    expect(bodies.size).toBe(1);
    // The other tenant's key is valid when asked in its own tenant.
    expect((await validate(otherTenant.apiKey!, { 'x-tenant-id': 'validate-other' })).data.valid).toBe(true);
    expect((await validate(k)).data.valid).toBe(true);
  });

  it('bad input → 400 validation_failed', async () => {
    for (const json of [{}, { apiKey: 42 }, { apiKey: '' }, { apiKey: 'ck_x', extra: true }, [], 'ck_x']) {
      const res = await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json });
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });
});

describe('bad input creates nothing', () => {
  it('each invalid body → 400 with a message naming the field, and no row', async () => {
    const u = await register();
    const other = await register();
    const bad: [Record<string, unknown>, string][] = [
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: 'x', scopes: ['Not A Scope'] }, 'scopes'],
      [{ name: 'x', scopes: ['a:b:c'] }, 'scopes'],
      [{ name: 'x', scopes: 'assets:read' }, 'scopes'],
      [{ name: 'x', scopes: Array.from({ length: 51 }, (_, i) => `s${i}:read`) }, 'scopes'],
      [{ name: '', scopes: ['*'] }, 'name'],
      [{ name: '   ', scopes: ['*'] }, 'name'],
      [{ name: 'x'.repeat(101), scopes: ['*'] }, 'name'],
      [{ name: 'a\nb', scopes: ['*'] }, 'name'],
      [{ scopes: ['*'] }, 'name'],
      [{ name: 'x', scopes: ['*'], expiresInDays: 0 }, 'expiresInDays'],
      [{ name: 'x', scopes: ['*'], expiresInDays: -1 }, 'expiresInDays'],
      [{ name: 'x', scopes: ['*'], expiresInDays: 100000 }, 'expiresInDays'],
      [{ name: 'x', scopes: ['*'], expiresInDays: 1.5 }, 'expiresInDays'],
      [{ name: 'x', scopes: ['*'], expiresInDays: '30' }, 'expiresInDays'],
      [{ name: 'x', scopes: ['*'], orgId: 'nope' }, 'orgId'],
      [{ name: 'x', scopes: ['*'], userId: other.userId }, 'userId'],
      [{ name: 'x', scopes: ['*'], tenantId: (await t.deps.tenants.defaultTenant()).id }, 'tenantId'],
      [{ name: 'x', scopes: ['*'], rateLimit: 1000 }, 'rateLimit'],
      [{ name: 'x', scopes: ['*'], remaining: 5 }, 'remaining'],
    ];
    const before = await count('api_keys');
    const lookupsBefore = await count('api_key_lookup');
    for (const [json, field] of bad) {
      const res = await createKey(u.accessToken, json);
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(JSON.stringify(res.data.details ?? res.data.message), JSON.stringify(json)).toContain(field);
    }
    expect(await count('api_keys')).toBe(before);
    expect(await count('api_key_lookup')).toBe(lookupsBefore);
    expect((await call(t.app, { method: 'DELETE', url: '/auth/api-keys/not-a-uuid', token: u.accessToken })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'POST', url: '/auth/user/api-key/regenerate', token: u.accessToken, json: { name: 'x' } })).statusCode).toBe(400);
    expect(await count('api_keys')).toBe(before);
    // The regenerate refusal left the default key alone.
    expect((await getUser(u.apiKey!)).statusCode).toBe(200);
  });

  it('admin-plane scopes and an org that is not the caller\'s active org → 403, nothing created', async () => {
    const u = await register();
    const before = await count('api_keys');
    for (const scopes of [['admin:*'], ['admin'], ['user:read', 'admin:tenants']]) {
      const res = await createKey(u.accessToken, { name: 'x', scopes });
      expect(res.statusCode, scopes.join()).toBe(403);
      expect(res.data.message).toMatch(/admin/);
    }
    const org = await createKey(u.accessToken, { name: 'x', scopes: ['*'], orgId: '00000000-0000-4000-8000-000000000000' });
    expect(org.statusCode).toBe(403);
    expect(await count('api_keys')).toBe(before);
  });

  it('a user holds at most 50 live keys (409), and deleting one makes room', async () => {
    const u = await register();
    for (let i = 0; i < 49; i++) expect((await createKey(u.accessToken, { name: `k${i}`, scopes: ['user:read'] })).statusCode).toBe(201);
    const over = await createKey(u.accessToken, { name: 'one too many', scopes: ['user:read'] });
    expect(over.statusCode).toBe(409);
    expect(over.data.error).toBe('conflict');
    const list = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
    expect(list.data.total).toBe(50);
    await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${list.data.items[1].id}`, token: u.accessToken });
    expect((await createKey(u.accessToken, { name: 'room', scopes: ['user:read'] })).statusCode).toBe(201);
  });
});

describe('tenants', () => {
  it('a key carries its tenant: another X-Tenant-ID → 403 tenant_mismatch; another tenant\'s user cannot see or revoke it', async () => {
    await t.deps.tenants.create({ slug: 'keys-b', name: 'B' });
    const a = await register();
    const b = await register({ 'x-tenant-id': 'keys-b' });
    const mismatch = await call(t.app, { method: 'GET', url: '/auth/user', token: a.apiKey!, headers: { 'x-tenant-id': 'keys-b' } });
    expect(mismatch.statusCode).toBe(403);
    expect(mismatch.data.error).toBe('tenant_mismatch');
    const ok = await call(t.app, { method: 'GET', url: '/auth/user', token: b.apiKey!, headers: { 'x-tenant-id': 'keys-b' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.data.id).toBe(b.userId);

    const aDefault = await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: a.accessToken });
    const cross = await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${aDefault.data.id}`, token: b.accessToken });
    expect(cross.statusCode).toBe(404);
    expect((await getUser(a.apiKey!)).statusCode).toBe(200);
    const bList = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: b.accessToken });
    expect(bList.data.items.map((i: { id: string }) => i.id)).not.toContain(aDefault.data.id);
    // RLS: in B's scope, A's key rows do not exist.
    const bTenant = await t.deps.tenants.resolve('keys-b');
    const seen = await t.deps.sql.tx(bTenant!.id, (tx) => tx.query('SELECT id FROM api_keys WHERE id = $1', [aDefault.data.id]));
    expect(seen.rows).toHaveLength(0);
  });
});

describe('row-level security on the key tables', () => {
  it('another tenant\'s scope can neither read, revoke, re-point nor forge key rows; the lookup reveals only hash → tenant', async () => {
    const a = await register();
    const bTenant = await t.deps.tenants.create({ slug: 'rls-keys-b', name: 'B' });
    const aTenant = await t.deps.tenants.defaultTenant();
    const aKey = (await call(t.app, { method: 'GET', url: '/auth/user/api-key', token: a.accessToken })).data;
    const inB = <T>(fn: (tx: Tx) => Promise<T>) => t.deps.sql.tx(bTenant.id, fn);
    expect((await inB((tx) => tx.query('SELECT * FROM api_keys WHERE id = $1', [aKey.id]))).rows).toHaveLength(0);
    expect((await inB((tx) => tx.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [aKey.id]))).rowCount).toBe(0);
    expect((await inB((tx) => tx.query('DELETE FROM api_key_lookup WHERE key_id = $1', [aKey.id]))).rowCount).toBe(0);
    const forged = await inB((tx) => tx.query('INSERT INTO api_key_lookup (key_hash, tenant_id, key_id) VALUES ($1, $2, $3)', [Buffer.alloc(32, 7), aTenant.id, aKey.id]))
      .then(() => null, (e: Error) => e);
    expect(forged).not.toBeNull();
    // Readable from any scope (validation starts without a tenant), but it holds no tenant data.
    const { rows } = await inB((tx) => tx.query<Record<string, unknown>>('SELECT * FROM api_key_lookup WHERE key_id = $1', [aKey.id]));
    expect(Object.keys(rows[0]!).sort()).toEqual(['key_hash', 'key_id', 'tenant_id']);
    expect((await getUser(a.apiKey!)).statusCode).toBe(200);
  });
});

describe('audit', () => {
  it('key create, regenerate and revoke are audited with the actor, never with the key', async () => {
    const u = await register();
    const created = await createKey(u.accessToken, { name: 'audited', scopes: ['*'] });
    await call(t.app, { method: 'DELETE', url: `/auth/api-keys/${created.data.id}`, token: u.accessToken });
    const regen = await call(t.app, { method: 'POST', url: '/auth/user/api-key/regenerate', token: u.accessToken, headers: { 'user-agent': 'audit-test', 'x-request-id': 'req-keys-1' } });
    const { rows } = await t.stores.sql.ownerQuery<{ action: string; actor_type: string; actor_id: string; target: string; request_id: string | null; user_agent: string | null; metadata: unknown }>(
      `SELECT action, actor_type, actor_id, target, request_id, user_agent, metadata FROM audit_events WHERE action LIKE 'api_key.%' AND actor_id = $1 ORDER BY seq`, [u.userId]);
    expect(rows.map((r) => r.action)).toEqual(['api_key.create', 'api_key.create', 'api_key.revoke', 'api_key.regenerate']);
    expect(rows[1]!.target).toBe(created.data.id);
    expect(rows[3]).toMatchObject({ actor_type: 'user', target: regen.data.id, request_id: 'req-keys-1', user_agent: 'audit-test' });
    const text = JSON.stringify(rows);
    for (const k of [u.apiKey!, created.data.apiKey, regen.data.apiKey]) expect(text).not.toContain(k.slice(3));
  });
});

describe('an agent can find out how to use keys', () => {
  it('GET /auth/discovery names the headers, the prefix, the routes and the scope catalog', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(res.statusCode).toBe(200);
    const keys = res.data.capabilities.apiKeys;
    expect(keys.prefix).toBe('ck_');
    expect(keys.send).toEqual(['Authorization: Bearer ck_…', 'X-API-Key: ck_…']);
    expect(keys.scopes.catalog).toMatchObject({ '*': expect.any(String), 'user:read': expect.any(String), 'api_keys:write': expect.any(String) });
    expect(keys.routes.validate).toMatchObject({ method: 'POST', path: '/auth/api-key/validate' });
    expect(keys.routes.create).toMatchObject({ method: 'POST', path: '/auth/api-keys' });
    expect(res.data.credentials.apiKey.how).toContain('X-API-Key');
    expect(res.data.capabilities.admin.auth).toContain('ak_');
  });

  it('openapi.json declares the X-API-Key scheme (ck_) and puts each key route behind the right credential', async () => {
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(doc.components.securitySchemes.apiKey.description).toContain('ck_');
    const op = (path: string, method: string) => doc.paths[path][method];
    for (const [path, method, id] of [['/auth/api-keys', 'post', 'createApiKey'], ['/auth/api-keys', 'get', 'listApiKeys'], ['/auth/api-keys/{id}', 'delete', 'deleteApiKey'],
      ['/auth/user/api-key', 'get', 'getDefaultApiKey'], ['/auth/user/api-key/regenerate', 'post', 'regenerateDefaultApiKey']] as const) {
      expect(op(path, method).operationId).toBe(id);
      expect(op(path, method).security).toEqual(expect.arrayContaining([{ apiKey: [] }, { bearerAuth: [] }]));
    }
    expect(op('/auth/api-key/validate', 'post').security).toBeUndefined();
    expect(op('/auth/api-keys', 'post').responses['201']).toBeDefined();
    expect(op('/auth/admin/tenants', 'get').security).toEqual([{ adminKey: [] }]);
  });
});
