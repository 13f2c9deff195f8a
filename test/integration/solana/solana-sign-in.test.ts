import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import bs58 from 'bs58';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { newWallet, RAISED_LIMITS, SIWS_RE } from './wallet.js';

let t: TestApp;
let t2Id: string;
beforeAll(async () => {
  t = await createTestApp();
  const def = await t.deps.tenants.defaultTenant();
  await t.deps.tenants.update(def.id, { settings: RAISED_LIMITS });
  t2Id = (await t.deps.tenants.create({ slug: 'sol-t2', name: 'T2', settings: RAISED_LIMITS })).id;
});
afterAll(async () => { await t?.close(); });

const count = async (table: string, where = 'true', params: unknown[] = []) =>
  (await t.stores.sql.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0]!.n;

async function challenge(publicKey: string, headers: Record<string, string> = {}) {
  const res = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey }, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.data as { nonce: string; message: string; expiresAt: string };
}

const signIn = (publicKey: string, signature: string, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/solana', json: { publicKey, signature }, headers });

describe('SOL-01 the challenge message is well formed and bound to the domain', () => {
  it('parses under the SIWS grammar with PUBLIC_URL\'s host, the address, a fresh 128-bit nonce and a 5-minute expiry', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const m = SIWS_RE.exec(c.message);
    expect(m, c.message).not.toBeNull();
    const g = m!.groups!;
    expect(g.domain).toBe(new URL(TEST_PUBLIC_URL).host);
    expect(g.address).toBe(w.publicKey);
    expect(g.uri).toBe(TEST_PUBLIC_URL);
    expect(g.chain).toBe('mainnet');
    expect(g.nonce).toBe(c.nonce);
    expect(c.nonce).toMatch(/^[0-9a-f]{32}$/); // 128 bits
    expect(Math.abs(Date.parse(g.issuedAt!) - t.clock.nowMs())).toBeLessThan(5000);
    expect(Date.parse(g.expirationTime!)).toBe(Date.parse(c.expiresAt));
    expect(Date.parse(c.expiresAt) - Date.parse(g.issuedAt!)).toBe(5 * 60_000);
    const again = await challenge(w.publicKey);
    expect(again.nonce).not.toBe(c.nonce);
  });

  it('keeps PUBLIC_URL\'s domain under a hostile Host or X-Forwarded-Host', async () => {
    const w = newWallet();
    for (const headers of [{ host: 'evil.example' }, { 'x-forwarded-host': 'evil.example' }] as Record<string, string>[]) {
      const c = await challenge(w.publicKey, headers);
      expect(c.message.split('\n')[0]).toBe(`${new URL(TEST_PUBLIC_URL).host} wants you to sign in with your Solana account:`);
      expect(c.message).not.toContain('evil.example');
    }
  });
});

describe('sign-in with a wallet', () => {
  it('creates a wallet-only user on first sign-in (amr swk) and signs the same user in later', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const res = await signIn(w.publicKey, w.sign(c.message));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.isNewUser).toBe(true);
    expect(res.data.user.email).toBeUndefined();
    expect(res.data.user.solanaPublicKey).toBe(w.publicKey);
    expect(decodeJwt(res.data.tokens.accessToken).amr).toEqual(['swk']);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(await count('wallet_identities', 'public_key = $1 AND user_id = $2', [w.publicKey, res.data.user.id])).toBe(1);

    const me = await call(t.app, { method: 'GET', url: '/auth/solana/link', token: res.data.tokens.accessToken });
    expect(me.data.publicKey).toBe(w.publicKey);

    const c2 = await challenge(w.publicKey);
    const again = await signIn(w.publicKey, w.sign(c2.message));
    expect(again.statusCode, again.body).toBe(200);
    expect(again.data.isNewUser).toBe(false);
    expect(again.data.user.id).toBe(res.data.user.id);
  });

  it('accepts the signature of any of the key\'s live challenges, not only the newest', async () => {
    const w = newWallet();
    const first = await challenge(w.publicKey);
    await challenge(w.publicKey);
    const res = await signIn(w.publicKey, w.sign(first.message));
    expect(res.statusCode, res.body).toBe(200);
  });

  it('does not issue an API key on sign-up when the tenant says not to', async () => {
    const slug = 'sol-nokey';
    await t.deps.tenants.create({ slug, name: 'No keys', settings: { ...RAISED_LIMITS, issueApiKeyOnSignup: false } });
    const w = newWallet();
    const c = await challenge(w.publicKey, { 'x-tenant-id': slug });
    const res = await signIn(w.publicKey, w.sign(c.message), { 'x-tenant-id': slug });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.isNewUser).toBe(true);
    expect(res.data).not.toHaveProperty('apiKey');
  });
});

describe('SOL-02 the signature is checked against the exact stored message', () => {
  it('refuses signatures over altered messages and by another key, and creates nothing', async () => {
    const w = newWallet();
    const other = newWallet();
    const c = await challenge(w.publicKey);
    const users = await count('users');
    const host = new URL(TEST_PUBLIC_URL).host;
    const altered = [
      c.message.replace(host, 'evil.example'),
      c.message.replace(c.nonce, 'a'.repeat(32)),
      c.nonce,
      `${c.message}\n`,
      c.message.replace(w.publicKey, other.publicKey),
    ];
    for (const msg of altered) {
      const res = await signIn(w.publicKey, w.sign(msg));
      expect(res.statusCode, msg).toBe(401);
      expect(res.data.error).toBe('invalid_credentials');
    }
    const byOther = await signIn(w.publicKey, other.sign(c.message));
    expect(byOther.statusCode).toBe(401);
    expect(await count('users')).toBe(users);
    expect(await count('audit_events', "action = 'user.login' AND outcome = 'failure' AND metadata->>'method' = 'solana'")).toBeGreaterThanOrEqual(6);
    // The untouched challenge still works: failures did not consume it.
    const ok = await signIn(w.publicKey, w.sign(c.message));
    expect(ok.statusCode, ok.body).toBe(200);
  });
});

describe('SOL-03 nonces are single use, expire and are tied to the public key', () => {
  it('refuses a replay', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const sig = w.sign(c.message);
    expect((await signIn(w.publicKey, sig)).statusCode).toBe(200);
    const replay = await signIn(w.publicKey, sig);
    expect(replay.statusCode).toBe(401);
  });

  it('refuses a signature after expiresAt', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    t.clock.advance(5 * 60_000 + 1000);
    const res = await signIn(w.publicKey, w.sign(c.message));
    expect(res.statusCode).toBe(401);
  });

  it('refuses a challenge issued for key A, signed by key B and sent as B', async () => {
    const a = newWallet();
    const b = newWallet();
    const c = await challenge(a.publicKey);
    const res = await signIn(b.publicKey, b.sign(c.message));
    expect(res.statusCode).toBe(401);
    expect(await count('wallet_identities', 'public_key = $1', [b.publicKey])).toBe(0);
  });

  it('lets exactly one of 10 parallel submissions of one signature win', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const sig = w.sign(c.message);
    const results = await Promise.all(Array.from({ length: 10 }, () => signIn(w.publicKey, sig)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(9);
    expect(await count('wallet_identities', 'public_key = $1', [w.publicKey])).toBe(1);
  });

  it('creates one user when two first sign-ins with one new wallet race', async () => {
    const w = newWallet();
    const [c1, c2] = [await challenge(w.publicKey), await challenge(w.publicKey)];
    const [r1, r2] = await Promise.all([signIn(w.publicKey, w.sign(c1.message)), signIn(w.publicKey, w.sign(c2.message))]);
    expect([r1.statusCode, r2.statusCode]).toEqual([200, 200]);
    expect(r1.data.user.id).toBe(r2.data.user.id);
    expect([r1.data.isNewUser, r2.data.isNewUser].filter(Boolean)).toHaveLength(1);
  });

  it('keeps the nonce table bounded: a few live challenges per key, spent and expired rows pruned', async () => {
    const w = newWallet();
    for (let i = 0; i < 12; i++) await challenge(w.publicKey);
    expect(await count('solana_nonces', 'public_key = $1 AND used_at IS NULL', [w.publicKey])).toBeLessThanOrEqual(5);
    t.clock.advance(6 * 60_000);
    await challenge(newWallet().publicKey);
    const def = await t.deps.tenants.defaultTenant();
    expect(await count('solana_nonces', 'tenant_id = $1 AND (expires_at <= $2 OR used_at IS NOT NULL)', [def.id, t.clock.now()])).toBe(0);
  });

  it('refuses a challenge of tenant T at tenant T2', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const res = await signIn(w.publicKey, w.sign(c.message), { 'x-tenant-id': 'sol-t2' });
    expect(res.statusCode).toBe(401);
  });
});

describe('SOL-04 input validation', () => {
  const w = newWallet();
  const cases: [string, unknown][] = [
    ['not base58 (0OIl)', { publicKey: `0OIl${w.publicKey.slice(4)}` }],
    ['31 bytes', { publicKey: bs58.encode(Buffer.alloc(31, 9)) }],
    ['33 bytes', { publicKey: bs58.encode(Buffer.alloc(33, 9)) }],
    ['10 KB', { publicKey: 'A'.repeat(10_000) }],
    ['a number', { publicKey: 12345 }],
    ['missing', {}],
    ['extra field', { publicKey: w.publicKey, domain: 'evil.example' }],
  ];
  it.each(cases)('answers 400 to a challenge for a public key that is %s, storing nothing', async (_name, json) => {
    const before = await count('solana_nonces');
    const res = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.data.error).toBe('validation_failed');
    expect(await count('solana_nonces')).toBe(before);
  });

  it('answers 400 to bad signatures and keys on sign-in, creating no user and spending no nonce', async () => {
    const c = await challenge(w.publicKey);
    const good = w.sign(c.message);
    const bytes = (n: number) => Buffer.alloc(n, 7);
    const bodies: unknown[] = [
      { publicKey: w.publicKey, signature: bs58.encode(bytes(63)) },
      { publicKey: w.publicKey, signature: bs58.encode(bytes(65)) },
      { publicKey: w.publicKey, signature: [1, 2, 3] },
      { publicKey: w.publicKey, signature: 42 },
      { publicKey: w.publicKey, signature: `${good.slice(0, -1)}0` },
      { publicKey: w.publicKey },
      { signature: good },
      { publicKey: bs58.encode(bytes(31)), signature: good },
      { publicKey: bs58.encode(bytes(33)), signature: good },
    ];
    const users = await count('users');
    for (const json of bodies) {
      const r = await call(t.app, { method: 'POST', url: '/auth/solana', json });
      expect(r.statusCode, JSON.stringify(json)).toBe(400);
      expect(r.data.error).toBe('validation_failed');
    }
    expect(await count('users')).toBe(users);
    expect(await count('solana_nonces', 'nonce = $1 AND used_at IS NULL', [c.nonce])).toBe(1);
    const garbage = await call(t.app, { method: 'POST', url: '/auth/solana', payload: '{"publicKey":', headers: { 'content-type': 'application/json' } });
    expect(garbage.statusCode).toBe(400);
  });
});

describe('SOL-05 wallet accounts and linking', () => {
  const PASSWORD = 'correct horse battery staple';
  let n = 0;
  async function register(headers: Record<string, string> = {}) {
    const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email: `sol${++n}-${Date.now()}@example.com`, password: PASSWORD }, headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.data as { user: { id: string }; tokens: { accessToken: string } };
  }
  async function linkChallenge(token: string, publicKey: string) {
    const res = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey, purpose: 'link' }, token });
    expect(res.statusCode, res.body).toBe(200);
    return res.data as { message: string };
  }
  const link = (token: string, publicKey: string, signature: string) =>
    call(t.app, { method: 'POST', url: '/auth/solana/link', json: { publicKey, signature }, token });

  it('gives the same wallet distinct users in two tenants', async () => {
    const w = newWallet();
    const c1 = await challenge(w.publicKey);
    const a = await signIn(w.publicKey, w.sign(c1.message));
    const c2 = await challenge(w.publicKey, { 'x-tenant-id': 'sol-t2' });
    const b = await signIn(w.publicKey, w.sign(c2.message), { 'x-tenant-id': 'sol-t2' });
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(b.data.isNewUser).toBe(true);
    expect(b.data.user.tenantId).toBe(t2Id);
    expect(b.data.user.id).not.toBe(a.data.user.id);
  });

  it('links a wallet to a signed-in user, who can then sign in with it', async () => {
    const u = await register();
    const w = newWallet();
    const c = await linkChallenge(u.tokens.accessToken, w.publicKey);
    expect(c.message).toContain('Link this Solana account');
    const res = await link(u.tokens.accessToken, w.publicKey, w.sign(c.message));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.publicKey).toBe(w.publicKey);
    const s = await challenge(w.publicKey);
    const login = await signIn(w.publicKey, w.sign(s.message));
    expect(login.statusCode).toBe(200);
    expect(login.data.user.id).toBe(u.user.id);
    expect(login.data.user.solanaPublicKey).toBe(w.publicKey);
    expect(login.data.isNewUser).toBe(false);
  });

  it('does not accept a sign-in challenge for linking, nor a link challenge for sign-in', async () => {
    const u = await register();
    const w = newWallet();
    const s = await challenge(w.publicKey);
    expect((await link(u.tokens.accessToken, w.publicKey, w.sign(s.message))).statusCode).toBe(401);
    const l = await linkChallenge(u.tokens.accessToken, w.publicKey);
    expect((await signIn(w.publicKey, w.sign(l.message))).statusCode).toBe(401);
  });

  it('does not let another user complete a link challenge issued to someone else', async () => {
    const a = await register();
    const b = await register();
    const w = newWallet();
    const c = await linkChallenge(a.tokens.accessToken, w.publicKey);
    const res = await link(b.tokens.accessToken, w.publicKey, w.sign(c.message));
    expect(res.statusCode).toBe(401);
  });

  it('refuses (409) linking a wallet that belongs to another user', async () => {
    const u1 = await register();
    const u2 = await register();
    const w = newWallet();
    const c = await linkChallenge(u2.tokens.accessToken, w.publicKey);
    expect((await link(u2.tokens.accessToken, w.publicKey, w.sign(c.message))).statusCode).toBe(200);
    const c1 = await linkChallenge(u1.tokens.accessToken, w.publicKey);
    const res = await link(u1.tokens.accessToken, w.publicKey, w.sign(c1.message));
    expect(res.statusCode, res.body).toBe(409);
    expect(res.data.error).toBe('conflict');
    expect(await count('wallet_identities', 'public_key = $1 AND user_id = $2', [w.publicKey, u2.user.id])).toBe(1);
  });

  it('needs a session to link: no credential → 401', async () => {
    const w = newWallet();
    const res = await call(t.app, { method: 'POST', url: '/auth/solana/challenge', json: { publicKey: w.publicKey, purpose: 'link' } });
    expect(res.statusCode).toBe(401);
    const l = await call(t.app, { method: 'POST', url: '/auth/solana/link', json: { publicKey: w.publicKey, signature: w.sign('x') } });
    expect(l.statusCode).toBe(401);
  });

  it('refuses to unlink the only sign-in method, and unlinks when another exists', async () => {
    const w = newWallet();
    const c = await challenge(w.publicKey);
    const walletUser = await signIn(w.publicKey, w.sign(c.message));
    const refused = await call(t.app, { method: 'DELETE', url: '/auth/solana/link', token: walletUser.data.tokens.accessToken });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(await count('wallet_identities', 'public_key = $1', [w.publicKey])).toBe(1);

    const u = await register();
    const me = async () => (await call(t.app, { method: 'GET', url: '/auth/user', token: u.tokens.accessToken })).data;
    // GET /user is served from the profile cache: linking and unlinking must show at once (Cedros solanaPublicKey).
    expect((await me()).solanaPublicKey).toBeUndefined();
    const w2 = newWallet();
    const lc = await linkChallenge(u.tokens.accessToken, w2.publicKey);
    expect((await link(u.tokens.accessToken, w2.publicKey, w2.sign(lc.message))).statusCode).toBe(200);
    expect((await me()).solanaPublicKey).toBe(w2.publicKey);
    const ok = await call(t.app, { method: 'DELETE', url: '/auth/solana/link', token: u.tokens.accessToken });
    expect(ok.statusCode, ok.body).toBe(204);
    expect((await me()).solanaPublicKey).toBeUndefined();
    expect(await count('wallet_identities', 'public_key = $1', [w2.publicKey])).toBe(0);
    expect(await count('audit_events', "action = 'solana.unlink' AND actor_id = $1", [u.user.id])).toBe(1);
    const none = await call(t.app, { method: 'DELETE', url: '/auth/solana/link', token: u.tokens.accessToken });
    expect(none.statusCode).toBe(404);
  });
});
