import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANTS } from '../../../src/db/scope.js';
import { TenantSettings } from '../../../src/modules/tenants/schemas.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';

/**
 * The admin plane: tenants (create, read, merge settings), users (list, disable/enable), and the audit
 * log (filters, cursor pages, redaction, append-only, hash chain). Every change is audited with the
 * admin key as actor.
 */
let t: TestApp;
let admin: { id: string; key: string };
const PASSWORD = 'correct horse battery staple';
let n = 0;

const A = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, json?: unknown) => call(t.app, { method, url, json, token: admin.key });
const tenantCount = async () => (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM tenants')).rows[0]!.n;

async function register(tenant?: string) {
  const email = `adm${++n}@example.com`;
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD }, headers: tenant ? { 'x-tenant-id': tenant } : {} });
  expect(res.statusCode, res.body).toBe(200);
  return { email, userId: res.data.user.id as string, token: res.data.tokens.accessToken as string, refreshToken: res.data.tokens.refreshToken as string, apiKey: res.data.apiKey as string | undefined, expiresIn: res.data.tokens.expiresIn as number };
}

beforeAll(async () => {
  t = await createTestApp();
  admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 90 });
});
afterAll(async () => { await t?.close(); });

describe('tenants', () => {
  it('POST creates a tenant with default settings; GET reads it; the list contains it; the action is audited with the admin key', async () => {
    const res = await A('POST', '/auth/admin/tenants', { slug: 'acme', name: 'Acme', settings: { allowedOrigins: ['https://app.acme.example'] } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.data).toMatchObject({ slug: 'acme', name: 'Acme' });
    expect(res.data.settings).toMatchObject({ allowedOrigins: ['https://app.acme.example'], issueApiKeyOnSignup: true, magicLinkSignup: true, accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 2592000, requireMfaForAdmins: false });
    expect(Date.parse(res.data.createdAt)).not.toBeNaN();
    const get = await A('GET', `/auth/admin/tenants/${res.data.id}`);
    expect(get.data).toEqual(res.data);
    const list = await A('GET', '/auth/admin/tenants?limit=200');
    expect(list.data.items.map((x: { slug: string }) => x.slug)).toEqual(expect.arrayContaining(['default', 'acme']));
    expect(list.data).toMatchObject({ limit: 200, offset: 0 });
    const audit = await A('GET', `/auth/admin/audit?tenantId=${res.data.id}&action=tenant.create`);
    expect(audit.data.items).toHaveLength(1);
    expect(audit.data.items[0]).toMatchObject({ actor: { type: 'admin_key', id: admin.id }, target: res.data.id, outcome: 'success', tenantId: res.data.id });
  });

  it('bad input → 400 with a message and no tenant; a taken slug → 409', async () => {
    const before = await tenantCount();
    const bad: unknown[] = [
      { slug: 'Bad Slug', name: 'x' },
      { slug: 'x', name: 'too short slug' },
      { slug: 'fine-slug' },
      { slug: 'fine-slug', name: '' },
      { slug: 'fine-slug', name: 'x', extra: 1 },
      { slug: 'fine-slug', name: 'x', settings: { unknownSetting: true } },
      { slug: 'fine-slug', name: 'x', settings: { allowedOrigins: ['*'] } },
      { slug: 'fine-slug', name: 'x', settings: { allowedOrigins: ['http://app.example.com'] } },
      { slug: 'fine-slug', name: 'x', settings: { allowedOrigins: ['https://app.example.com/path'] } },
      { slug: 'fine-slug', name: 'x', settings: { redirectUrls: ['http://evil.example/cb'] } },
      { slug: 'fine-slug', name: 'x', settings: { accessTokenTtlSeconds: 1 } },
      { slug: 'fine-slug', name: 'x', settings: { issueApiKeyOnSignup: 'yes' } },
      { slug: 'fine-slug', name: 'x', settings: [] },
    ];
    for (const json of bad) {
      const res = await A('POST', '/auth/admin/tenants', json);
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.message).toMatch(/Invalid request/);
    }
    expect(await tenantCount()).toBe(before);
    const dup = await A('POST', '/auth/admin/tenants', { slug: 'default', name: 'Again' });
    expect(dup.statusCode).toBe(409);
    expect(await tenantCount()).toBe(before);
    const local = await A('POST', '/auth/admin/tenants', { slug: 'local-dev', name: 'Dev', settings: { allowedOrigins: ['http://localhost:5173', 'http://127.0.0.1:3000'] } });
    expect(local.statusCode, local.body).toBe(201);
  });

  it('PATCH merges settings: only the keys sent change; bad input changes nothing', async () => {
    const created = (await A('POST', '/auth/admin/tenants', {
      slug: 'merge', name: 'Merge', settings: { allowedOrigins: ['https://m.example'], redirectUrls: ['https://m.example/cb'], issueApiKeyOnSignup: false, refreshReuseGraceSeconds: 10 },
    })).data;
    const patched = await A('PATCH', `/auth/admin/tenants/${created.id}`, { settings: { accessTokenTtlSeconds: 600 } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.data.settings).toEqual({ ...created.settings, accessTokenTtlSeconds: 600 });
    expect(patched.data.name).toBe('Merge');
    const renamed = await A('PATCH', `/auth/admin/tenants/${created.id}`, { name: 'Merged' });
    expect(renamed.data).toMatchObject({ name: 'Merged', settings: patched.data.settings });

    for (const json of [{}, { settings: { allowedOrigins: ['*'] } }, { settings: { nope: 1 } }, { name: '' }, { slug: 'changed' }, { settings: { accessTokenTtlSeconds: 600 }, extra: true }]) {
      const res = await A('PATCH', `/auth/admin/tenants/${created.id}`, json);
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
    }
    expect((await A('GET', `/auth/admin/tenants/${created.id}`)).data).toEqual(renamed.data);
    expect((await A('PATCH', '/auth/admin/tenants/00000000-0000-4000-8000-000000000000', { name: 'x' })).statusCode).toBe(404);
    expect((await A('GET', '/auth/admin/tenants/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await A('GET', '/auth/admin/tenants/not-a-uuid')).statusCode).toBe(400);
    const audit = await A('GET', `/auth/admin/audit?tenantId=${created.id}&action=tenant.update`);
    expect(audit.data.items[1].metadata).toMatchObject({ settingsChanged: ['accessTokenTtlSeconds'] });
    expect(audit.data.items[0].metadata).toMatchObject({ name: 'Merged', settingsChanged: [] });
  });

  it('changed settings take effect at once: sign-up key issuance and token lifetime', async () => {
    const created = (await A('POST', '/auth/admin/tenants', { slug: 'effect', name: 'Effect' })).data;
    expect((await register('effect')).apiKey).toMatch(/^ck_/);
    await A('PATCH', `/auth/admin/tenants/${created.id}`, { settings: { issueApiKeyOnSignup: false, accessTokenTtlSeconds: 300 } });
    const after = await register('effect');
    expect(after.apiKey).toBeUndefined();
    expect(after.expiresIn).toBe(300);
  });
});

describe('discovery', () => {
  it('the admin section of /auth/discovery names every tenant setting the schema accepts', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    const listed = String(res.data.capabilities?.admin?.tenants?.settings ?? '');
    expect(listed, JSON.stringify(Object.keys(res.data))).not.toBe('');
    for (const key of Object.keys(TenantSettings.shape)) expect(listed).toContain(key);
    expect(listed).toContain('oidcDynamicRegistration');
  });
});

describe('users', () => {
  it('lists a tenant\'s users by uuid or slug, without secrets', async () => {
    await A('POST', '/auth/admin/tenants', { slug: 'people', name: 'People' });
    const u = await register('people');
    const bySlug = await A('GET', '/auth/admin/users?tenantId=people');
    expect(bySlug.statusCode, bySlug.body).toBe(200);
    expect(bySlug.data.total).toBe(1);
    expect(bySlug.data.items[0]).toMatchObject({ id: u.userId, email: u.email, disabled: false });
    expect(bySlug.body).not.toMatch(/password|hash/i);
    const tenant = await t.deps.tenants.resolve('people');
    expect((await A('GET', `/auth/admin/users?tenantId=${tenant!.id}`)).data.items[0].id).toBe(u.userId);
    expect((await A('GET', '/auth/admin/users?tenantId=nobody-here')).statusCode).toBe(404);
    for (const q of ['', '?limit=0&tenantId=people', '?tenantId=people&extra=1', '?tenantId=people&offset=-1']) {
      expect((await A('GET', `/auth/admin/users${q}`)).statusCode, q).toBe(400);
    }
  });

  it('disabling a user ends every credential at once (SES-03, TOK-07); enabling lets them sign in again', async () => {
    const u = await register();
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.apiKey! })).statusCode).toBe(200);
    const off = await A('PATCH', `/auth/admin/users/${u.userId}`, { disabled: true });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.data).toMatchObject({ id: u.userId, disabled: true });
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.token })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': u.apiKey! } })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: u.refreshToken } })).statusCode).toBe(401);
    const login = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } });
    expect(login.statusCode).toBe(401);
    expect(login.data.error).toBe('invalid_credentials');

    const on = await A('PATCH', `/auth/admin/users/${u.userId}`, { disabled: false });
    expect(on.data.disabled).toBe(false);
    expect((await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: PASSWORD } })).statusCode).toBe(200);

    const rows = (await A('GET', `/auth/admin/audit?actorId=${admin.id}&limit=200`)).data.items.filter((i: { target: string }) => i.target === u.userId);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['user.enable', 'user.disable']);
    expect(rows[1]).toMatchObject({ actor: { type: 'admin_key', id: admin.id }, outcome: 'success' });
  });

  it('finds the user in any tenant; unknown user → 404; bad input → 400 and nothing changes', async () => {
    await A('POST', '/auth/admin/tenants', { slug: 'elsewhere', name: 'Elsewhere' });
    const v = await register('elsewhere');
    expect((await A('PATCH', `/auth/admin/users/${v.userId}`, { disabled: true })).data.tenantId).toBe((await t.deps.tenants.resolve('elsewhere'))!.id);
    expect((await A('PATCH', '/auth/admin/users/00000000-0000-4000-8000-000000000000', { disabled: true })).statusCode).toBe(404);
    const u = await register();
    for (const json of [{}, { disabled: 'yes' }, { disabled: true, role: 'admin' }, { email: 'not-an-address' }, { disabled: null }]) {
      expect((await A('PATCH', `/auth/admin/users/${u.userId}`, json)).statusCode, JSON.stringify(json)).toBe(400);
    }
    expect((await A('PATCH', '/auth/admin/users/not-a-uuid', { disabled: true })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.token })).statusCode).toBe(200);
  });
});

describe('audit log', () => {
  it('filters by tenant, actor, action and time, newest first, with cursor pages that neither overlap nor skip', async () => {
    const tenant = (await A('POST', '/auth/admin/tenants', { slug: 'paged', name: 'Paged' })).data;
    const start = t.clock.nowMs();
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1000);
      await t.deps.audit.record({ tenantId: tenant.id, actor: { type: 'system', id: 'test' }, action: 'test.page', target: `item-${i}`, outcome: 'success' });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await A('GET', `/auth/admin/audit?tenantId=${tenant.id}&action=test.page&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.data.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.data.items.map((i: { target: string }) => i.target));
      cursor = res.data.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['item-4', 'item-3', 'item-2', 'item-1', 'item-0']);

    const from = new Date(start + 2000).toISOString();
    const to = new Date(start + 4000).toISOString();
    const window = await A('GET', `/auth/admin/audit?tenantId=${tenant.id}&from=${from}&to=${to}`);
    expect(window.data.items.map((i: { target: string }) => i.target)).toEqual(['item-2', 'item-1']);
    const byActor = await A('GET', `/auth/admin/audit?actorId=${admin.id}&tenantId=${tenant.id}`);
    expect(byActor.data.items.map((i: { action: string }) => i.action)).toEqual(['tenant.create']);
    const other = await A('GET', `/auth/admin/audit?tenantId=${(await t.deps.tenants.defaultTenant()).id}&action=test.page`);
    expect(other.data.items).toEqual([]);
  });

  it('bad filters → 400', async () => {
    for (const q of ['cursor=!!!', 'cursor=abc', 'tenantId=default', 'from=yesterday', `from=${new Date(2).toISOString()}&to=${new Date(1).toISOString()}`, 'limit=0', 'limit=201', 'action=DROP TABLE', 'unknown=1']) {
      const res = await A('GET', `/auth/admin/audit?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
  });

  it('rows carry actor, tenant, IP, user agent, request id and time; metadata is redacted at any depth, in objects and arrays', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl';
    await t.deps.audit.record({
      tenantId: tenant.id, actor: { type: 'system', id: 'test' }, action: 'test.redaction', outcome: 'success',
      ip: '198.51.100.4', userAgent: 'redaction-test', requestId: 'req-redact',
      metadata: {
        note: 'ck_NotARealKeyButShapedLikeOne0123456789abcdefghij',
        harmless: 'kept',
        list: [{ password: 'hunter2hunter2', label: 'kept too' }, [`Bearer ${jwt}`, 'plain'], { deep: { refresh_token: 'rt.secret', ok: 'fine', more: [{ API_KEY: 'x', code: 123456 }] } }],
        nested: { authorization: 'Basic abc', challenge: 'ch_abcdefghijklmnopqrstuvwxyz', flag: true },
      },
    });
    const res = await A('GET', '/auth/admin/audit?action=test.redaction');
    const row = res.data.items[0];
    expect(row).toMatchObject({ tenantId: tenant.id, ip: '198.51.100.4', userAgent: 'redaction-test', requestId: 'req-redact', actor: { type: 'system', id: 'test' } });
    expect(row.occurredAt).toMatch(/Z$/);
    expect(row.metadata).toEqual({
      note: '[REDACTED]',
      harmless: 'kept',
      list: [{ password: '[REDACTED]', label: 'kept too' }, ['[REDACTED]', 'plain'], { deep: { refresh_token: '[REDACTED]', ok: 'fine', more: [{ API_KEY: '[REDACTED]', code: '[REDACTED]' }] } }],
      nested: { authorization: '[REDACTED]', challenge: '[REDACTED]', flag: true },
    });
    expect(res.body).not.toMatch(/hunter2|NotARealKey|rt\.secret|eyJhbGci|Basic abc|123456/);
  });

  it('there is no route to change or delete audit rows, and the app role may not UPDATE or DELETE them', async () => {
    const row = (await A('GET', '/auth/admin/audit?limit=1')).data.items[0];
    for (const [method, url] of [['PATCH', '/auth/admin/audit'], ['DELETE', '/auth/admin/audit'], ['PUT', '/auth/admin/audit'], ['POST', '/auth/admin/audit'],
      ['PATCH', `/auth/admin/audit/${row.id}`], ['DELETE', `/auth/admin/audit/${row.id}`], ['GET', `/auth/admin/audit/${row.id}`]] as const) {
      const res = await A(method, url, method === 'DELETE' || method === 'GET' ? undefined : { outcome: 'success' });
      expect([404, 405], `${method} ${url}`).toContain(res.statusCode);
    }
    for (const stmt of ['UPDATE audit_events SET outcome = \'success\'', 'DELETE FROM audit_events']) {
      const err = await t.deps.sql.tx(ALL_TENANTS, (tx) => tx.query(stmt)).then(() => null, (e: { code?: string; cause?: { code?: string }; message: string }) => e);
      expect(err, stmt).not.toBeNull();
      expect(`${err!.code ?? err!.cause?.code} ${err!.message}`).toMatch(/42501|permission denied/);
    }
  });

  it('the hash chain shows an admin action edited in the database, in that tenant\'s chain only', async () => {
    expect((await t.deps.audit.verify()).breaks).toEqual([]);
    const created = (await A('POST', '/auth/admin/tenants', { slug: 'tamper', name: 'Tamper' })).data;
    await A('PATCH', `/auth/admin/tenants/${created.id}`, { settings: { issueApiKeyOnSignup: false } });
    await A('PATCH', `/auth/admin/tenants/${created.id}`, { name: 'Tamper 2' });
    const rows = (await A('GET', `/auth/admin/audit?tenantId=${created.id}`)).data.items;
    const target = rows.find((r: { action: string; metadata: { settingsChanged?: string[] } }) => r.action === 'tenant.update' && r.metadata.settingsChanged?.length);
    expect(target).toBeDefined();
    // Someone with database access hides the settings change.
    await t.stores.sql.ownerQuery(`UPDATE audit_events SET metadata = '{"settingsChanged": []}'::jsonb WHERE id = $1`, [target.id]);
    const { breaks } = await t.deps.audit.verify();
    expect(breaks).toEqual([{ tenantId: created.id, seq: target.seq, id: target.id, problem: 'hash_mismatch' }]);
  });
});
