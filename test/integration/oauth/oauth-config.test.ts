import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';

/** OAuth is optional: unset → 404 everywhere; a provider that cannot be reached → 503; bad issuer → no start. */
let t: TestApp;
beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t?.close(); });

const APP_CB = 'https://app.example/cb';

describe('OAuth not configured', () => {
  it('answers 404 not_found "OAuth is not configured" on every OAuth route', async () => {
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { redirectUrls: [APP_CB] } });
    const start = await call(t.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(APP_CB)}` });
    const cb = await call(t.app, { method: 'GET', url: '/auth/oauth/google/callback?state=abc&code=def' });
    const ex = await call(t.app, { method: 'POST', url: '/auth/oauth/exchange', json: { code: 'x'.repeat(43) } });
    for (const res of [start, cb, ex]) {
      expect(res.statusCode, res.body).toBe(404);
      expect(res.data.error).toBe('not_found');
      expect(res.data.message).toMatch(/OAuth is not configured/);
    }
    expect(start.headers.location).toBeUndefined();
    const disc = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(disc.data.capabilities.oauth.enabled).toBe(false);
  });
});

describe('OAuth provider unreachable', () => {
  it('answers 503 on start without storing a state or setting a cookie, and the app still starts', async () => {
    // Port 9 (discard) on loopback: nothing listens, discovery fails fast.
    const down = await createTestApp({ stores: t.stores, env: { OAUTH_GOOGLE_CLIENT_ID: 'c', OAUTH_GOOGLE_CLIENT_SECRET: 's', OAUTH_GOOGLE_ISSUER: 'http://127.0.0.1:9' } });
    try {
      const res = await call(down.app, { method: 'GET', url: `/auth/oauth/google?redirect_uri=${encodeURIComponent(APP_CB)}` });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.data.error).toBe('unavailable');
      expect(res.headers.location).toBeUndefined();
      expect(res.headers['set-cookie']).toBeUndefined();
      const disc = await call(down.app, { method: 'GET', url: '/auth/discovery' });
      expect(disc.data.capabilities.oauth).toMatchObject({ enabled: true, issuer: 'http://127.0.0.1:9' });
    } finally {
      await down.close();
    }
  });

  it('refuses to start with a plain-http issuer that is not on loopback', async () => {
    await expect(createTestApp({ stores: t.stores, env: { OAUTH_GOOGLE_CLIENT_ID: 'c', OAUTH_GOOGLE_CLIENT_SECRET: 's', OAUTH_GOOGLE_ISSUER: 'http://idp.example' } }))
      .rejects.toThrow(/OAUTH_GOOGLE_ISSUER must be an https:\/\/ URL/);
  });
});

describe('callback input', () => {
  it('answers 400 to duplicated or oversized parameters', async () => {
    const on = await createTestApp({ stores: t.stores, env: { OAUTH_GOOGLE_CLIENT_ID: 'c', OAUTH_GOOGLE_CLIENT_SECRET: 's', OAUTH_GOOGLE_ISSUER: 'http://127.0.0.1:9' } });
    try {
      for (const qs of ['state=a&state=b&code=c', `state=${'a'.repeat(5000)}&code=c`, 'code=c', 'state=a&code=c&scope=x&scope=y']) {
        const res = await call(on.app, { method: 'GET', url: `/auth/oauth/google/callback?${qs}` });
        expect(res.statusCode, qs.slice(0, 60)).toBe(400);
        expect(res.headers.location).toBeUndefined();
      }
    } finally {
      await on.close();
    }
  });
});

describe('discovery and OpenAPI', () => {
  it('describe the Solana, passkey and OAuth flows', async () => {
    const disc = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    const caps = disc.data.capabilities;
    expect(caps.solana.flow.join(' ')).toContain('/auth/solana/challenge');
    expect(caps.passkeys.signIn.join(' ')).toContain('/auth/passkeys/login/verify');
    expect(caps.oauth.flow.join(' ')).toContain('/auth/oauth/exchange');
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    const ops: Record<string, string> = {
      '/auth/solana/challenge': 'post', '/auth/solana': 'post', '/auth/solana/link': 'post',
      '/auth/passkeys/register/options': 'post', '/auth/passkeys/register/verify': 'post', '/auth/passkeys/login/options': 'post',
      '/auth/passkeys/login/verify': 'post', '/auth/passkeys': 'get', '/auth/passkeys/{id}': 'delete',
      '/auth/oauth/google': 'get', '/auth/oauth/google/callback': 'get', '/auth/oauth/exchange': 'post',
    };
    for (const [path, method] of Object.entries(ops)) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
  });
});
