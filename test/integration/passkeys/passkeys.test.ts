import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { RAISED_LIMITS } from '../solana/wallet.js';
import { createSoftAuthenticator, type SoftAuthenticatorOptions, type Tamper } from './soft-authenticator.js';

const ORIGIN = 'https://app.example';
const RP_ID = 'app.example';
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: { ...RAISED_LIMITS, allowedOrigins: [ORIGIN], webauthnRpId: RP_ID } });
  await t.deps.tenants.create({ slug: 'pk-t2', name: 'T2', settings: { ...RAISED_LIMITS, allowedOrigins: [ORIGIN], webauthnRpId: RP_ID } });
});
afterAll(async () => { await t?.close(); });

const count = async (table: string, where = 'true', params: unknown[] = []) =>
  (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n;

let n = 0;
async function register() {
  const email = `pk${++n}-${Date.now()}@example.com`;
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: 'correct horse battery staple' } });
  expect(res.statusCode, res.body).toBe(200);
  return { email, id: res.data.user.id as string, token: res.data.tokens.accessToken as string };
}

const regOptions = async (token: string) => {
  const res = await call(t.app, { method: 'POST', url: '/auth/passkeys/register/options', token });
  expect(res.statusCode, res.body).toBe(200);
  return res.data;
};
const regVerify = (token: string, json: unknown) => call(t.app, { method: 'POST', url: '/auth/passkeys/register/verify', token, json });
const loginOptions = async (json: unknown = {}, headers: Record<string, string> = {}) => {
  const res = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/options', json, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.data;
};
const loginVerify = (json: unknown, headers: Record<string, string> = {}) => call(t.app, { method: 'POST', url: '/auth/passkeys/login/verify', json, headers });

/** A user with one registered passkey on a fresh soft authenticator. */
async function userWithPasskey(o: Partial<SoftAuthenticatorOptions> = {}) {
  const u = await register();
  const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID, ...o });
  const res = await regVerify(u.token, auth.register(await regOptions(u.token)));
  expect(res.statusCode, res.body).toBe(201);
  return { ...u, auth, passkeyId: res.data.id as string };
}

describe('register a passkey and sign in with it', () => {
  it('registers, lists, and signs in by email and discoverably (amr hwk), storing counter and backup flags', async () => {
    const u = await register();
    const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID });
    const opts = await regOptions(u.token);
    expect(opts.rp).toEqual({ name: expect.any(String), id: RP_ID });
    expect(opts.authenticatorSelection.userVerification).toBe('required');
    expect(opts.pubKeyCredParams.map((p: { alg: number }) => p.alg)).toEqual([-8, -7, -257]);
    const res = await regVerify(u.token, { ...auth.register(opts), name: 'Laptop' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.data).toMatchObject({ name: 'Laptop', deviceType: 'singleDevice', backedUp: false, transports: ['internal'] });
    expect(await count('passkey_credentials', 'user_id = $1 AND credential_id = $2 AND counter = 0', [u.id, auth.credentialId])).toBe(1);

    const list = await call(t.app, { method: 'GET', url: '/auth/passkeys', token: u.token });
    expect(list.statusCode).toBe(200);
    expect(list.data).toMatchObject({ total: 1, items: [{ id: res.data.id }] });
    expect(list.data.items[0]).not.toHaveProperty('publicKey');

    const lo = await loginOptions({ email: u.email });
    expect(lo.allowCredentials).toEqual([{ id: auth.credentialId, type: 'public-key', transports: ['internal'] }]);
    const login = await loginVerify(auth.login(lo));
    expect(login.statusCode, login.body).toBe(200);
    expect(login.data.user.id).toBe(u.id);
    expect(decodeJwt(login.data.tokens.accessToken).amr).toEqual(['hwk']);
    expect(await count('passkey_credentials', 'credential_id = $1 AND counter = 1 AND last_used_at IS NOT NULL', [auth.credentialId])).toBe(1);

    const disc = await loginOptions();
    expect(disc.allowCredentials).toBeUndefined();
    const d = await loginVerify(auth.login(disc));
    expect(d.statusCode, d.body).toBe(200);
    expect(d.data.user.id).toBe(u.id);
  });

  it('records a synced (backup-eligible) passkey as swk', async () => {
    const u = await userWithPasskey({ flags: { be: true, bs: true } });
    const login = await loginVerify(u.auth.login(await loginOptions()));
    expect(login.statusCode, login.body).toBe(200);
    expect(decodeJwt(login.data.tokens.accessToken).amr).toEqual(['swk']);
  });

  it('answers an unknown email with the same shape of options (a stable decoy), not an empty list', async () => {
    const a = await loginOptions({ email: 'nobody@example.com' });
    const b = await loginOptions({ email: 'nobody@example.com' });
    expect(a.allowCredentials).toHaveLength(1);
    expect(a.allowCredentials[0].id).toBe(b.allowCredentials[0].id);
  });
});

describe('PK-01 challenges are random, single use and bound to the signed client data', () => {
  it('issues 100 distinct challenges of at least 16 bytes', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const o = await loginOptions();
      expect(Buffer.from(o.challenge, 'base64url').length).toBeGreaterThanOrEqual(16);
      seen.add(o.challenge);
    }
    expect(seen.size).toBe(100);
  });

  it('accepts an assertion once; the replay gets 401', async () => {
    const u = await userWithPasskey();
    const assertion = u.auth.login(await loginOptions());
    expect((await loginVerify(assertion)).statusCode).toBe(200);
    const replay = await loginVerify(assertion);
    expect(replay.statusCode).toBe(401);
    expect(replay.data.error).toBe('invalid_credentials');
  });

  it('refuses a challenge the server never issued, even with a valid one in a body field', async () => {
    const u = await userWithPasskey();
    const valid = await loginOptions();
    const forged = u.auth.login({ challenge: randomBytes(32).toString('base64url') });
    // The challenge that counts is the one inside the signed clientDataJSON; a copy elsewhere is ignored.
    const res = await loginVerify({ ...forged, challenge: valid.challenge, response: { ...forged.response, challenge: valid.challenge } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses an assertion after the options expired', async () => {
    const u = await userWithPasskey();
    const o = await loginOptions();
    t.clock.advance(5 * 60_000 + 1000);
    expect((await loginVerify(u.auth.login(o))).statusCode).toBe(401);
  });

  it('lets exactly one of 10 parallel submissions of one assertion sign in', async () => {
    const u = await userWithPasskey();
    const assertion = u.auth.login(await loginOptions());
    const results = await Promise.all(Array.from({ length: 10 }, () => loginVerify(assertion)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(9);
  });
});

const evilRpHash: Tamper = { rpId: 'evil.example' };
const defects: [string, Tamper][] = [
  ['origin https://evil.example', { origin: 'https://evil.example' }],
  ['origin http://<allowed-host>', { origin: 'http://app.example' }],
  ['origin https://<allowed-host>:8443', { origin: 'https://app.example:8443' }],
  ['crossOrigin true', { crossOrigin: true }],
  ['topOrigin present', { topOrigin: 'https://evil.example' }],
  ['rpIdHash of evil.example', evilRpHash],
  ['UP=0', { flags: { up: false } }],
  ['UV=0 under userVerification required', { flags: { uv: false } }],
  ['BE=0 with BS=1', { flags: { be: false, bs: true } }],
];

describe('PK-02 client data and authenticator data are verified', () => {
  it.each([...defects, ['type webauthn.create at login', { type: 'webauthn.create' }] as [string, Tamper]])('refuses a login with %s (401), and the passkey still works after', async (_name, tamper) => {
    const u = await userWithPasskey();
    const res = await loginVerify(u.auth.login(await loginOptions(), tamper));
    expect(res.statusCode, res.body).toBe(401);
    expect(res.data.error).toBe('invalid_credentials');
    expect((await loginVerify(u.auth.login(await loginOptions()))).statusCode).toBe(200);
  });

  it('refuses a login whose backup-eligibility bit differs from registration', async () => {
    const u = await userWithPasskey();
    const res = await loginVerify(u.auth.login(await loginOptions(), { flags: { be: true } }));
    expect(res.statusCode).toBe(401);
    expect(await count('audit_events', "action = 'user.login' AND metadata->>'reason' = 'backup_eligibility_changed'")).toBeGreaterThanOrEqual(1);
  });

  it.each([...defects, ['type webauthn.get at registration', { type: 'webauthn.get' }] as [string, Tamper]])('refuses a registration with %s (400) and stores nothing', async (_name, tamper) => {
    const u = await register();
    const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID });
    const res = await regVerify(u.token, auth.register(await regOptions(u.token), tamper));
    expect(res.statusCode, res.body).toBe(400);
    expect(await count('passkey_credentials', 'user_id = $1', [u.id])).toBe(0);
  });
});

describe('PK-03 a signature-counter regression is refused and audited', () => {
  it('accepts 6 after 5, refuses 6 again and 3 with an audit event each', async () => {
    const u = await userWithPasskey({ counter: 5 });
    expect(await count('passkey_credentials', 'id = $1 AND counter = 5', [u.passkeyId])).toBe(1);
    expect((await loginVerify(u.auth.login(await loginOptions(), { counter: 6 }))).statusCode).toBe(200);
    const again = await loginVerify(u.auth.login(await loginOptions(), { counter: 6 }));
    expect(again.statusCode).toBe(401);
    const lower = await loginVerify(u.auth.login(await loginOptions(), { counter: 3 }));
    expect(lower.statusCode).toBe(401);
    expect(await count('audit_events', "action = 'passkey.counter_regression' AND target = $1", [u.passkeyId])).toBe(2);
    expect(await count('passkey_credentials', 'id = $1 AND counter = 6', [u.passkeyId])).toBe(1);
  });

  it('accepts an authenticator whose counter always stays 0', async () => {
    const u = await userWithPasskey({ fixedCounter: 0 });
    for (let i = 0; i < 3; i++) expect((await loginVerify(u.auth.login(await loginOptions()))).statusCode).toBe(200);
  });
});

describe('PK-04 credentials are bound to users', () => {
  it('refuses U1\'s credential presented with U2\'s user handle', async () => {
    const u1 = await userWithPasskey();
    const u2 = await userWithPasskey();
    const u2Handle = Buffer.from(u2.id.replace(/-/g, ''), 'hex').toString('base64url');
    const res = await loginVerify(u1.auth.login(await loginOptions(), { userHandle: u2Handle }));
    expect(res.statusCode).toBe(401);
  });

  it('refuses a discoverable assertion without a user handle', async () => {
    const u = await userWithPasskey();
    expect((await loginVerify(u.auth.login(await loginOptions(), { userHandle: null }))).statusCode).toBe(401);
  });

  it('refuses U1\'s credential for options requested with U2\'s email', async () => {
    const u1 = await userWithPasskey();
    const u2 = await userWithPasskey();
    const res = await loginVerify(u1.auth.login(await loginOptions({ email: u2.email })));
    expect(res.statusCode).toBe(401);
  });

  it('refuses (409) registering a credential id that U2 already owns, leaving U2\'s intact', async () => {
    const u2 = await userWithPasskey();
    const u1 = await register();
    const clone = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID, credentialId: Buffer.from(u2.auth.credentialId, 'base64url') });
    const res = await regVerify(u1.token, clone.register(await regOptions(u1.token)));
    expect(res.statusCode, res.body).toBe(409);
    expect(await count('passkey_credentials', 'credential_id = $1 AND user_id = $2', [u2.auth.credentialId, u2.id])).toBe(1);
    expect((await loginVerify(u2.auth.login(await loginOptions()))).statusCode).toBe(200);
  });

  it('refuses (400) a 1024-byte credential id, an algorithm not offered, and malformed CBOR or base64url', async () => {
    const u = await register();
    const long = createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID, credentialId: new Uint8Array(randomBytes(1024)) });
    const cases = [
      long.register(await regOptions(u.token)),
      createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID }).register(await regOptions(u.token), { alg: -36 }),
      createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID }).register(await regOptions(u.token), { attestationObject: Buffer.from([0xa3, 0x63, 0x66]).toString('base64url') }),
      createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID }).register(await regOptions(u.token), { clientDataJSON: 'not*base64url' }),
      createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID }).register(await regOptions(u.token), { clientDataJSON: Buffer.from('{"type":').toString('base64url') }),
    ];
    for (const body of cases) {
      const res = await regVerify(u.token, body);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    expect(await count('passkey_credentials', 'user_id = $1', [u.id])).toBe(0);
  });

  it('answers garbage WebAuthn JSON with 400 and creates nothing', async () => {
    const u = await register();
    const users = await count('users');
    const bodies: unknown[] = [{}, { id: 'x' }, { id: 'abc', rawId: 'abc', type: 'password', response: {} }, [1, 2], 'str',
      { id: 'abc', rawId: 'abc', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' } }];
    for (const json of bodies) {
      expect((await loginVerify(json)).statusCode, JSON.stringify(json)).toBe(400);
      expect((await regVerify(u.token, json)).statusCode, JSON.stringify(json)).toBe(400);
    }
    const raw = await call(t.app, { method: 'POST', url: '/auth/passkeys/login/verify', payload: '{"id":', headers: { 'content-type': 'application/json' } });
    expect(raw.statusCode).toBe(400);
    expect(await count('users')).toBe(users);
    expect(await count('passkey_credentials', 'user_id = $1', [u.id])).toBe(0);
  });
});

describe('PK-05 passkey management', () => {
  it('needs a credential to start a registration', async () => {
    const res = await call(t.app, { method: 'POST', url: '/auth/passkeys/register/options' });
    expect(res.statusCode).toBe(401);
  });

  it('does not let U1 delete U2\'s passkey (404), lets U2 delete it when another method remains', async () => {
    const u1 = await userWithPasskey();
    const u2 = await userWithPasskey();
    const res = await call(t.app, { method: 'DELETE', url: `/auth/passkeys/${u2.passkeyId}`, token: u1.token });
    expect(res.statusCode).toBe(404);
    expect(await count('passkey_credentials', 'id = $1', [u2.passkeyId])).toBe(1);
    const own = await call(t.app, { method: 'DELETE', url: `/auth/passkeys/${u2.passkeyId}`, token: u2.token });
    expect(own.statusCode, own.body).toBe(204);
    expect(await count('passkey_credentials', 'id = $1', [u2.passkeyId])).toBe(0);
  });

  it('refuses to delete the passkey that is the account\'s only sign-in method (409)', async () => {
    const u = await userWithPasskey();
    // Make the passkey the only method: drop the password directly.
    await t.stores.sql.ownerQuery('UPDATE users SET password_hash = NULL WHERE id = $1', [u.id]);
    const res = await call(t.app, { method: 'DELETE', url: `/auth/passkeys/${u.passkeyId}`, token: u.token });
    expect(res.statusCode, res.body).toBe(409);
    expect(await count('passkey_credentials', 'id = $1', [u.passkeyId])).toBe(1);
  });

  it('does not accept a credential of tenant T at tenant T2', async () => {
    const u = await userWithPasskey();
    const res = await loginVerify(u.auth.login(await loginOptions({}, { 'x-tenant-id': 'pk-t2' })), { 'x-tenant-id': 'pk-t2' });
    expect(res.statusCode).toBe(401);
  });

  it('does not let a user of tenant T2 delete a passkey of tenant T (404)', async () => {
    const u = await userWithPasskey();
    const v = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `t2-${Date.now()}@example.com`, password: 'correct horse battery staple' }, headers: { 'x-tenant-id': 'pk-t2' } });
    expect(v.statusCode, v.body).toBe(200);
    const res = await call(t.app, { method: 'DELETE', url: `/auth/passkeys/${u.passkeyId}`, token: v.data.tokens.accessToken });
    expect(res.statusCode).toBe(404);
    expect(await count('passkey_credentials', 'id = $1', [u.passkeyId])).toBe(1);
  });

  it('does not list another user\'s passkeys', async () => {
    const a = await userWithPasskey();
    const b = await register();
    const list = await call(t.app, { method: 'GET', url: '/auth/passkeys', token: b.token });
    expect(list.data.total).toBe(0);
    expect(JSON.stringify(list.data)).not.toContain(a.passkeyId);
  });
});
