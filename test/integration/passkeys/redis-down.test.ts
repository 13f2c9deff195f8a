import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kv } from '../../../src/kv/kv.js';
import { KvUnavailableError } from '../../../src/kv/kv-errors.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { createStores, type Stores } from '../../helpers/backend.js';
import { startTestOp, type TestOp } from '../../helpers/oidc-provider.js';
import { newWallet, RAISED_LIMITS } from '../solana/wallet.js';
import { createSoftAuthenticator } from './soft-authenticator.js';

/**
 * SECURITY AV-02: with the key–value store down, no challenge is issued that could not be stored
 * and nothing runs without its limit: every credential route of these flows answers 503.
 * The store is wrapped so that a test can take all of it, or only its plain reads and writes, down.
 */
const ORIGIN = 'https://app.example';
let stores: Stores;
let t: TestApp;
let op: TestOp;
let down: 'none' | 'all' | 'data' = 'none';
const DATA_OPS = new Set(['get', 'mget', 'set', 'del', 'getDel']);

function faulty(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      // The subscription state is synchronous and the subscriber is not what this test stops.
      if (typeof v !== 'function' || prop === 'close' || prop === 'subscribe' || prop === 'publish' || prop === 'subscriptionGeneration' || prop === 'subscriptionsLive') return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) => {
        if (down === 'all' || (down === 'data' && DATA_OPS.has(String(prop)))) return Promise.reject(new KvUnavailableError('Connection is closed.'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

beforeAll(async () => {
  op = await startTestOp({ redirectUri: 'http://localhost:3999/auth/oauth/google/callback' });
  stores = await createStores();
  t = await createTestApp({ stores: { ...stores, kv: faulty(stores.kv) }, env: { OAUTH_GOOGLE_CLIENT_ID: op.clientId, OAUTH_GOOGLE_CLIENT_SECRET: op.clientSecret, OAUTH_GOOGLE_ISSUER: op.issuer } });
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { ...RAISED_LIMITS, allowedOrigins: [ORIGIN], webauthnRpId: 'app.example', redirectUrls: ['https://app.example/cb'] } });
});
afterAll(async () => { down = 'none'; await t?.close(); await stores?.drop(); await op?.close(); });

describe('AV-02 with the store down, these flows fail closed with 503', () => {
  it.each(['all', 'data'] as const)('store down (%s): passkey options and OAuth start issue nothing', async (mode) => {
    const before = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/options', json: {} });
    expect(before.statusCode).toBe(200);
    down = mode;
    try {
      for (const [method, url, json] of [
        ['POST', '/auth/passkeys/login/options', {}],
        ['GET', '/auth/oauth/google?redirect_uri=https%3A%2F%2Fapp.example%2Fcb', undefined],
      ] as const) {
        const res = await call(t.app, { method, url, json });
        expect(res.statusCode, `${url} ${res.body}`).toBe(503);
        expect(res.data.error).toBe('unavailable');
        expect(res.headers.location).toBeUndefined();
      }
      // A verify whose challenge cannot be taken from the store is not accepted either.
      const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: 'app.example' });
      const verify = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/verify', json: auth.login({ challenge: before.data.challenge }) });
      expect(verify.statusCode).toBe(503);
    } finally {
      down = 'none';
    }
  });

  it('store down entirely: the Solana challenge and sign-in answer 503 (their limits cannot run)', async () => {
    const w = newWallet();
    const c = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey: w.publicKey } });
    expect(c.statusCode).toBe(200);
    down = 'all';
    try {
      const res = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey: w.publicKey } });
      expect(res.statusCode).toBe(503);
      const s = await call(t.app, { method: 'POST', url: '/auth/solana', json: { publicKey: w.publicKey, signature: w.sign(c.data.message) } });
      expect(s.statusCode).toBe(503);
    } finally {
      down = 'none';
    }
    const after = await call(t.app, { method: 'POST', url: '/auth/solana', json: { publicKey: w.publicKey, signature: w.sign(c.data.message) } });
    expect(after.statusCode, after.body).toBe(200);
  });
});
