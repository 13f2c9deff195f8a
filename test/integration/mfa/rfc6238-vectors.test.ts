import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_AUTH_SECRET, type TestApp } from '../../helpers/app.js';
import { deriveKey, seal } from '../../../src/lib/crypto.js';
import { totpAt } from '../../../src/modules/mfa/totp.js';
import { loginForMfaToken, MFA_TEST_ENV, register } from './mfa-helpers.js';

/**
 * RFC 6238 Appendix B (SHA-1 rows, SECURITY §V) through the HTTP API with the injected clock: the RFC
 * secret is sealed the way the service seals secrets and put in place of the one /mfa/setup generated.
 */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // base32 of ASCII "12345678901234567890"
const VECTORS: [number, string][] = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
  [20000000000, '353130'],
];

let t: TestApp;
beforeAll(async () => { t = await createTestApp({ env: MFA_TEST_ENV }); });
afterAll(async () => { await t?.close(); });

const at = (seconds: number) => t.clock.set(seconds * 1000);
const loginMfa = (mfaToken: string, code: string) => call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken, code } });

describe('RFC 6238 Appendix B vectors through /mfa/enable and /login/mfa', () => {
  it('accepts each 6-digit vector at its time, T-1 once, never T+1 or T+2, and never a step twice', async () => {
    at(59);
    const u = await register(t);
    const tenantId = (await t.deps.tenants.defaultTenant()).id;
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken })).statusCode).toBe(200);
    const sealed = seal(deriveKey(TEST_AUTH_SECRET, 'totp'), RFC_SECRET, `${tenantId}:${u.userId}`);
    await t.deps.sql.ownerQuery('UPDATE user_mfa SET secret_sealed = $2 WHERE user_id = $1', [u.userId, sealed]);

    const enable = (code: string) => call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code } });
    // at t = 59 (T = 1): T+2 (t = 119) and T+1 (t = 89) are refused; T-1 (t = 29, step 0) is accepted once
    expect((await enable(totpAt(RFC_SECRET, 119))).statusCode).toBe(401);
    expect((await enable(totpAt(RFC_SECRET, 89))).statusCode).toBe(401);
    const en = await enable(totpAt(RFC_SECRET, 29));
    expect(en.statusCode, en.body).toBe(200);

    let m = await loginForMfaToken(t, u.email);
    const replay = await loginMfa(m, totpAt(RFC_SECRET, 29));
    expect(replay.statusCode, 'the T-1 code used at /mfa/enable').toBe(401);
    expect(replay.data.error).toBe('invalid_code');

    for (const [seconds, code] of VECTORS) {
      at(seconds);
      m = await loginForMfaToken(t, u.email);
      const ok = await loginMfa(m, code);
      expect(ok.statusCode, `t=${seconds} code=${code}: ${ok.body}`).toBe(200);
      // the same code again at the same time: already used
      const m2 = await loginForMfaToken(t, u.email);
      expect((await loginMfa(m2, code)).statusCode, `t=${seconds} replay`).toBe(401);
    }
  });

  it('T-2 is refused (t = 20000000100: the code of t - 60)', async () => {
    at(20000000100);
    const u = await register(t);
    const tenantId = (await t.deps.tenants.defaultTenant()).id;
    await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    await t.deps.sql.ownerQuery('UPDATE user_mfa SET secret_sealed = $2 WHERE user_id = $1', [u.userId, seal(deriveKey(TEST_AUTH_SECRET, 'totp'), RFC_SECRET, `${tenantId}:${u.userId}`)]);
    const now = 20000000100;
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: totpAt(RFC_SECRET, now - 60) } })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: totpAt(RFC_SECRET, now) } })).statusCode).toBe(200);
  });

  it('a secret sealed for another user (or with another key) does not open: no code is accepted', async () => {
    at(20000000200);
    const u = await register(t);
    await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token: u.accessToken });
    const tenantId = (await t.deps.tenants.defaultTenant()).id;
    // bound to the tenant and user by the AEAD's associated data
    await t.deps.sql.ownerQuery('UPDATE user_mfa SET secret_sealed = $2 WHERE user_id = $1', [u.userId, seal(deriveKey(TEST_AUTH_SECRET, 'totp'), RFC_SECRET, `${tenantId}:someone-else`)]);
    const res = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token: u.accessToken, json: { code: totpAt(RFC_SECRET, 20000000200) } });
    // not the client's fault: the stored box fails authentication → the generic 500 (cause logged, never sent)
    expect(res.statusCode).toBe(500);
    expect(res.data.error).toBe('internal_error');
    expect(res.body).not.toContain(RFC_SECRET);
    expect(await t.deps.sql.ownerQuery('SELECT 1 FROM user_mfa WHERE user_id = $1 AND enabled_at IS NULL', [u.userId]).then((r) => r.rows.length)).toBe(1);
  });
});
