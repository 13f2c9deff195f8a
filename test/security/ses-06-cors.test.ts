import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { assertRoutesDeclareAuth } from '../../src/http/guard.js';

// SES-06: CORS does not reflect untrusted origins. An origin is allowed when it is exactly one of some
// tenant's allowedOrigins (preflights carry no tenant); it is echoed with Vary: Origin and credentials.

const ALLOWED = 'https://allowed.example';
const OTHER_TENANT = 'https://app2.example';
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  const tenant = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ALLOWED] } });
  await t.deps.tenants.create({ slug: 'cors-t2', name: 'T2', settings: { allowedOrigins: [OTHER_TENANT] } });
});
afterAll(async () => { await t?.close(); });

const preflight = (origin: string, app = t.app) => call(app, {
  method: 'OPTIONS', url: '/auth/login',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-tenant-id' },
});
const plain = (origin: string, app = t.app) => call(app, { method: 'GET', url: '/auth/health', headers: { origin } });

const UNTRUSTED = ['https://evil.example', 'null', `${ALLOWED}.evil.com`, 'https://evilallowed.example', 'http://allowed.example', `${ALLOWED}/`, `${ALLOWED}:443`, 'https://ALLOWED.example', `${ALLOWED}, https://evil.example`, '*'];

function expectNoCors(res: { headers: Record<string, unknown> }, what: string) {
  expect(res.headers['access-control-allow-origin'], what).toBeUndefined();
  expect(res.headers['access-control-allow-credentials'], what).toBeUndefined();
}

function expectEcho(res: { headers: Record<string, unknown> }, origin: string) {
  expect(res.headers['access-control-allow-origin']).toBe(origin);
  expect(res.headers['access-control-allow-credentials']).toBe('true');
  expect(String(res.headers.vary)).toMatch(/\bOrigin\b/i);
}

describe('SES-06 CORS', () => {
  it('gives untrusted origins no CORS headers, on preflight and on plain requests', async () => {
    for (const origin of UNTRUSTED) {
      const pre = await preflight(origin);
      expectNoCors(pre, `preflight ${origin}`);
      expect(pre.statusCode).not.toBe(204);
      expectNoCors(await plain(origin), `plain ${origin}`);
    }
  });

  it('echoes an allowed origin exactly with Vary: Origin and credentials; the preflight is answered', async () => {
    const pre = await preflight(ALLOWED);
    expect(pre.statusCode).toBe(204);
    expectEcho(pre, ALLOWED);
    expect(String(pre.headers['access-control-allow-methods'])).toMatch(/POST/);
    expect(String(pre.headers['access-control-allow-methods'])).toMatch(/DELETE/);
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toContain('x-tenant-id');
    expect(pre.headers['x-request-id']).toBeTruthy();
    const res = await plain(ALLOWED);
    expect(res.statusCode).toBe(200);
    expectEcho(res, ALLOWED);
    expect(String(res.headers['access-control-expose-headers']).toLowerCase()).toContain('x-request-id');
  });

  it('lets a browser MCP client on an allowed origin send Mcp-Protocol-Version and read WWW-Authenticate', async () => {
    const pre = await preflight(ALLOWED);
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toContain('mcp-protocol-version');
    const res = await plain(ALLOWED);
    expect(String(res.headers['access-control-expose-headers']).toLowerCase()).toContain('www-authenticate');
  });

  it('allows the union of the tenants\' origins (a preflight names no tenant)', async () => {
    expectEcho(await preflight(OTHER_TENANT), OTHER_TENANT);
  });

  it('error responses carry the headers too, so the browser can read them', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/user', headers: { origin: ALLOWED } });
    expect(res.statusCode).toBe(401);
    expectEcho(res, ALLOWED);
  });

  it('never sends * together with credentials', async () => {
    for (const origin of [...UNTRUSTED, ALLOWED, OTHER_TENANT]) {
      for (const res of [await preflight(origin), await plain(origin)]) {
        expect(res.headers['access-control-allow-origin']).not.toBe('*');
      }
    }
  });

  it('follows tenant changes at once, on this and the other instance', async () => {
    const b = (await t.second()).app;
    const fresh = 'https://fresh.example';
    expectNoCors(await preflight(fresh), 'before');
    expectNoCors(await preflight(fresh, b), 'before on B');
    const tenant = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ALLOWED, fresh] } });
    expectEcho(await preflight(fresh), fresh);
    const until = Date.now() + 5_000;
    while ((await preflight(fresh, b)).headers['access-control-allow-origin'] !== fresh) {
      if (Date.now() > until) throw new Error('the second instance never saw the new origin');
      await new Promise((r) => setTimeout(r, 50));
    }
    await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: [ALLOWED] } });
    expectNoCors(await preflight(fresh), 'after removal');
    // a tenant created with origins joins the union at once
    await t.deps.tenants.create({ slug: 'cors-t3', name: 'T3', settings: { allowedOrigins: ['https://t3.example'] } });
    expectEcho(await preflight('https://t3.example'), 'https://t3.example');
  });

  it('an OPTIONS request that is no allowed preflight is a 404 in the error shape, with the security headers', async () => {
    for (const res of [await preflight('https://evil.example'), await call(t.app, { method: 'OPTIONS', url: '/auth/login' })]) {
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: 'not_found' });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(String(res.headers.vary)).toMatch(/\bOrigin\b/i);
    }
  });

  it('a request without Origin gets Vary: Origin and no other CORS header', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/health' });
    expect(res.headers.vary).toBe('Origin');
    expectNoCors(res, 'no origin');
    expect(res.headers['access-control-expose-headers']).toBeUndefined();
  });

  it('every route must declare its auth mode, catch-alls included', async () => {
    const app = Fastify();
    assertRoutesDeclareAuth(app);
    expect(() => app.options('*', async () => '')).toThrow(/declares no config.auth/);
    expect(() => app.options('/x', async () => '')).toThrow(/declares no config.auth/);
    expect(() => app.get('*', async () => '')).toThrow(/declares no config.auth/);
    await app.close();
  });
});
