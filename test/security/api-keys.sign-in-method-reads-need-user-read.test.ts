import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { register, type SignedIn } from '../helpers/identity.js';
import { apiKey } from '../integration/orgs/org-helpers.js';
import { newWallet, RAISED_LIMITS } from '../integration/solana/wallet.js';
import { createSoftAuthenticator } from '../integration/passkeys/soft-authenticator.js';

/**
 * A user's sign-in methods are read with the profile's scope: `GET /passkeys` and `GET /solana/link`
 * called with a `ck_` key need `user:read` (403 without it, nothing of the data in the answer); keys
 * covering it (`user:read`, `user:*`, `*`) read them. Access tokens need no scope.
 */
const ORIGIN = 'https://app.example';
const RP_ID = 'app.example';
let t: TestApp;
let u: SignedIn;
let wallet: string;
let passkeyId: string;

beforeAll(async () => {
  t = await createTestApp();
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { ...RAISED_LIMITS, allowedOrigins: [ORIGIN], webauthnRpId: RP_ID } });
  u = await register(t.app);

  const w = newWallet();
  const ch = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey: w.publicKey, purpose: 'link' }, token: u.accessToken });
  expect(ch.statusCode, ch.body).toBe(200);
  const linked = await call(t.app, { method: 'POST', url: '/auth/solana/link', json: { publicKey: w.publicKey, signature: w.sign(ch.data.message) }, token: u.accessToken });
  expect(linked.statusCode, linked.body).toBe(200);
  wallet = w.publicKey;

  const options = await call(t.app, { method: 'POST', url: '/auth/passkeys/register/options', token: u.accessToken });
  expect(options.statusCode, options.body).toBe(200);
  const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID });
  const pk = await call(t.app, { method: 'POST', url: '/auth/passkeys/register/verify', token: u.accessToken, json: auth.register(options.data) });
  expect(pk.statusCode, pk.body).toBe(201);
  passkeyId = pk.data.id;
});
afterAll(async () => { await t?.close(); });

const READS = [
  { url: '/auth/passkeys', has: () => passkeyId },
  { url: '/auth/solana/link', has: () => wallet },
] as const;

describe('reading sign-in methods with an API key needs user:read', () => {
  for (const route of READS) {
    it(`GET ${route.url}: 403 for keys without user:read, 200 for keys with it`, async () => {
      for (const scopes of [['sessions:read'], ['api_keys:read', 'orgs:read'], ['assets:read'], ['authz:check']]) {
        const key = await apiKey(t.app, u.accessToken, scopes);
        const res = await call(t.app, { method: 'GET', url: route.url, token: key });
        expect(res.statusCode, `${scopes.join(',')}: ${res.body}`).toBe(403);
        expect(res.data).toMatchObject({ error: 'forbidden', message: expect.stringContaining('user:read') });
        expect(res.body).not.toContain(route.has());
      }
      for (const scopes of [['user:read'], ['user:*'], ['*']]) {
        const key = await apiKey(t.app, u.accessToken, scopes);
        const res = await call(t.app, { method: 'GET', url: route.url, headers: { 'x-api-key': key } });
        expect(res.statusCode, `${scopes.join(',')}: ${res.body}`).toBe(200);
        expect(res.body).toContain(route.has());
      }
      // The access token of the session still reads them.
      expect((await call(t.app, { method: 'GET', url: route.url, token: u.accessToken })).statusCode).toBe(200);
    });
  }
});
