import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nacl from 'tweetnacl';
import bs58 from 'bs58';
import { decodeJwt } from 'jose';
import { createAuthplaneClient, isMfaRequired, AuthplaneError, memoryStorage, type AuthplaneClientOptions } from '../src/index.js';
import { totpAt } from '../../../src/modules/mfa/totp.js';
import { mailsTo, tokenIn } from '../../../test/helpers/mail.js';
import { createSoftAuthenticator } from '../../../test/integration/passkeys/soft-authenticator.js';
import { newEmail, PASSWORD, startServer, type LiveServer } from './server.js';

// Every flow of the app client against the real server over HTTP (one server for the file).
const ORIGIN = 'https://app.example';
let s: LiveServer;
beforeAll(async () => {
  s = await startServer();
  const settings = (await s.t.deps.tenants.defaultTenant()).settings;
  await s.t.deps.tenants.update(s.defaultTenantId, { settings: { ...settings, allowedOrigins: [ORIGIN], webauthnRpId: 'app.example' } });
});
afterAll(async () => { await s?.close(); });

const client = (o: Partial<AuthplaneClientOptions> = {}) =>
  createAuthplaneClient({ baseUrl: s.baseUrl, fetch: s.fetch, now: () => s.t.clock.nowMs(), ...o });
const nextCode = (secret: string) => { s.t.clock.advance(30_000); return totpAt(secret, Math.floor(s.t.clock.nowMs() / 1000)); };

describe('@authplane/client against the server', () => {
  it('register, getUser, login, logout; refused calls carry the catalog code', async () => {
    const c = client();
    const email = newEmail();
    const reg = await c.register({ email, password: PASSWORD });
    expect(reg.user.email).toBe(email);
    expect((await c.getUser()).id).toBe(reg.user.id);

    const bad = await client().login({ email, password: 'wrong password entirely' }).catch((e) => e);
    expect(bad).toBeInstanceOf(AuthplaneError);
    expect(bad.code).toBe('invalid_credentials');
    expect(bad.status).toBe(401);
    const dup = await client().register({ email, password: PASSWORD }).catch((e) => e);
    expect(dup.code).toBe('email_taken');

    const c2 = client();
    const r = await c2.login({ email, password: PASSWORD });
    expect(isMfaRequired(r)).toBe(false);
    const sessions = await c2.sessions.list();
    expect(sessions.items.length).toBe(2);
    await c2.logout();
    expect(await c2.isSignedIn()).toBe(false);
    expect((await c2.getUser().catch((e) => e)).code).toBe('unauthorized');
    // the other session is untouched
    expect((await c.getUser()).id).toBe(reg.user.id);
  });

  it('refresh is single-flight: 20 concurrent callers, exactly one /refresh, and the session survives', async () => {
    const storage = memoryStorage();
    const c = client({ storage });
    await c.register({ email: newEmail(), password: PASSWORD });
    const before = s.count('POST /auth/refresh');
    const all = await Promise.all(Array.from({ length: 20 }, () => c.refresh()));
    expect(s.count('POST /auth/refresh') - before).toBe(1);
    expect(new Set(all.map((x) => x.accessToken)).size).toBe(1);
    // An expired access token: 20 concurrent calls share one refresh, then all succeed.
    s.t.clock.advance(16 * 60_000);
    const before2 = s.count('POST /auth/refresh');
    const users = await Promise.all(Array.from({ length: 20 }, () => c.getUser()));
    expect(s.count('POST /auth/refresh') - before2).toBe(1);
    expect(new Set(users.map((u) => u.id)).size).toBe(1);
    // no reuse was detected: the stored refresh token still works
    expect((await c.refresh()).accessToken).toBeTruthy();
    expect(await storage.get()).toBeTruthy();
  });

  it('a revoked session makes refresh fail and forgets the stored token', async () => {
    const storage = memoryStorage();
    const c = client({ storage });
    await c.register({ email: newEmail(), password: PASSWORD });
    const other = client();
    await other.login({ email: (await c.getUser()).email!, password: PASSWORD });
    const mine = decodeJwt(await c.getAccessToken()).sid as string;
    await other.sessions.revoke(mine);
    const e = await c.refresh().catch((x) => x);
    expect(e).toBeInstanceOf(AuthplaneError);
    expect(e.status).toBe(401);
    expect(await storage.get()).toBeNull();
  });

  it('MFA: login answers the MFA step, loginMfa completes it; the TOTP gate round trip through onTotpRequired', async () => {
    const email = newEmail('mfa');
    const c = client();
    await c.register({ email, password: PASSWORD });
    const setup = await c.mfa.setup();
    await c.mfa.enable(nextCode(setup.secret));

    const gates: unknown[] = [];
    const m = client({ onTotpRequired: (g) => { gates.push(g); return nextCode(setup.secret); } });
    const step = await m.login({ email, password: PASSWORD });
    if (!isMfaRequired(step)) throw new Error('expected the MFA step');
    const done = await m.loginMfa({ mfaToken: step.mfaToken, code: nextCode(setup.secret) });
    expect(decodeJwt(done.tokens.accessToken).amr).toContain('otp');

    s.t.clock.advance(5 * 60_000 + 1_000); // the sign-in's step-up lapses: sensitive routes are gated again
    const completes = s.count('POST /auth/totp/complete');
    const created = await m.apiKeys.create({ name: 'gated', scopes: ['read'] });
    expect(created.apiKey).toMatch(/^ck_/);
    expect(gates).toEqual([{ challenge: expect.stringMatching(/^ch_/), method: 'POST', path: '/auth/api-keys' }]);
    expect(s.count('POST /auth/totp/complete') - completes).toBe(1);

    // Without a callback the gate surfaces as the typed error, challenge included.
    const plain = client();
    const again = await plain.login({ email, password: PASSWORD });
    if (!isMfaRequired(again)) throw new Error('expected the MFA step');
    await plain.loginMfa({ mfaToken: again.mfaToken, code: nextCode(setup.secret) });
    s.t.clock.advance(5 * 60_000 + 1_000);
    const refused = await plain.apiKeys.create({ name: 'x', scopes: ['read'] }).catch((x) => x);
    expect(refused.code).toBe('totp_required');
    expect(refused.challenge).toMatch(/^ch_/);
  });

  it('magic link: request, read the mail, verify', async () => {
    const email = newEmail('link');
    await client().register({ email, password: PASSWORD });
    const c = client();
    await c.magicLink.request({ email });
    let mails = mailsTo(s.t.config.dataDir, email);
    for (let i = 0; i < 100 && mails.length === 0; i++) { await new Promise((r) => setTimeout(r, 20)); mails = mailsTo(s.t.config.dataDir, email); }
    const r = await c.magicLink.verify(tokenIn(mails[0]!.text));
    expect(isMfaRequired(r)).toBe(false);
    expect((await c.getUser()).email).toBe(email);
  });

  it('Solana: the caller\'s signMessage signs the challenge bytes', async () => {
    const kp = nacl.sign.keyPair();
    const publicKey = bs58.encode(kp.publicKey);
    const c = client();
    let signed = '';
    const r = await c.signInWithSolana({ publicKey, signMessage: async (bytes, text) => { signed = text; return nacl.sign.detached(bytes, kp.secretKey); } });
    expect(isMfaRequired(r)).toBe(false);
    expect(signed).toContain(publicKey);
    expect(decodeJwt(await c.getAccessToken()).amr).toContain('swk');
  });

  it('passkeys: register for the signed-in user, then sign in with it (ceremony functions passed in)', async () => {
    const email = newEmail('pk');
    const c = client();
    await c.register({ email, password: PASSWORD });
    const auth = createSoftAuthenticator({ origin: ORIGIN, rpId: 'app.example' });
    const pk = await c.passkeys.register({ name: 'Laptop', startRegistration: async ({ optionsJSON }) => auth.register(optionsJSON) });
    expect(pk.id).toBeTruthy();
    const fresh = client();
    const r = await fresh.passkeys.signIn({ email, startAuthentication: async ({ optionsJSON }) => auth.login(optionsJSON) });
    expect(isMfaRequired(r)).toBe(false);
    expect((await fresh.getUser()).email).toBe(email);
    expect((await fresh.passkeys.list()).items.map((p: { id: string }) => p.id)).toContain(pk.id);
  });

  it('orgs, roles, members, authorize; API keys; sessions', async () => {
    const c = client();
    const me = await c.register({ email: newEmail('org'), password: PASSWORD });
    const org = await c.orgs.create({ name: 'Acme' });
    expect((await c.orgs.list()).items.map((o: { id: string }) => o.id)).toContain(org.id);
    expect((await c.orgs.get(org.id)).name).toBe('Acme');
    await c.orgs.roles.create(org.id, { name: 'viewer', permissions: ['assets:read'] });
    expect((await c.orgs.members.list(org.id)).items[0].userId).toBe(me.user.id);
    await c.orgs.switch(org.id);
    expect(decodeJwt(await c.getAccessToken()).org).toBe(org.id);
    expect((await c.authorize({ action: 'assets:read' })).allowed).toBe(true);
    const invite = await c.orgs.invites.create(org.id, { email: newEmail('inv'), roles: ['member'] });
    expect(invite.token).toBeTruthy();

    const key = await c.apiKeys.create({ name: 'ci', scopes: ['read'] });
    expect((await c.apiKeys.list()).items.map((k: { id: string }) => k.id)).toContain(key.id);
    await c.apiKeys.delete(key.id);
    expect((await c.apiKeys.list()).items.map((k: { id: string }) => k.id)).not.toContain(key.id);

    const missing = await c.orgs.get('00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect([403, 404]).toContain(missing.status);
    // a caller-supplied id cannot step to another route
    await expect(c.apiKeys.delete('..')).rejects.toThrow(TypeError);
    const sneaky = await c.orgs.get('../sessions').catch((e) => e);
    expect(sneaky).toBeInstanceOf(AuthplaneError);
    expect([400, 404]).toContain(sneaky.status);
  });

  it('tenant option sends X-Tenant-ID: users of another tenant are separate', async () => {
    await s.t.deps.tenants.create({ slug: 'client-t2', name: 'T2', settings: { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } } });
    const email = newEmail('t2');
    const c = client({ tenant: 'client-t2' });
    await c.register({ email, password: PASSWORD });
    const claims = decodeJwt(await c.getAccessToken());
    expect(claims.tid).not.toBe(s.defaultTenantId);
    expect((await client().login({ email, password: PASSWORD }).catch((e) => e)).code).toBe('invalid_credentials');
  });
});
