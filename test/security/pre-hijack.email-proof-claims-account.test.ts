import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { call } from '../helpers/app.js';
import { oidcHarness } from '../helpers/oidc-provider.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';
import { enableMfa } from '../integration/mfa/mfa-helpers.js';
import { newWallet } from '../integration/solana/wallet.js';
import { createOrg, user } from '../integration/orgs/org-helpers.js';

/**
 * Pre-account-takeover (issue 25): someone registers the victim's address first — with a password, or
 * through an OpenID provider that does not verify the email — attaches factors, then has the
 * "Confirm your email address" mail sent to the victim. Whichever emailed link proves the address
 * (verification, magic link, reset), everything the unverified registrant attached dies: password,
 * federated identity, TOTP, passkeys, wallet, API keys, sessions and refresh tokens. The one exception:
 * the verification is sent with a live session of that same account (the clicker holds the account and
 * the mailbox), and then nothing is removed. Runs against the real OpenID provider of the e2e suites.
 */
const h = oidcHarness();
const { account, fullSignIn, signInAtProvider, count } = h;
beforeAll(() => h.open());
afterAll(() => h.close());

const PASSWORD = 'attacker chosen passphrase 1';
let n = 0;
const address = (tag: string) => `${tag}${++n}-${Date.now()}@example.com`;
const post = (url: string, json: unknown, o: { token?: string; headers?: Record<string, string> } = {}) =>
  call(h.t.app, { method: 'POST', url, json, ...o });
const drain = () => h.t.deps.services.mailer.drain();
/** The token of the newest mail to `email` (what the victim finds in the mailbox). */
const newestToken = async (email: string) => { await drain(); return tokenIn(mailsTo(h.t.config.dataDir, email).at(-1)!.text); };
const audit = async (action: string, userId: string) =>
  (await h.t.deps.audit.list({ tenantId: (await h.t.deps.tenants.defaultTenant()).id, action, limit: 500 })).items.filter((e) => e.target === userId);

/** What the registrant holds: a session (access + refresh token), the sign-up API key, and more factors. */
interface Registrant { userId: string; email: string; accessToken: string; refreshToken: string; apiKey: string }

/** The attacker's extra factors: a linked wallet, a passkey row and TOTP (in that order: MFA gates linking). */
async function attachFactors(r: Registrant) {
  const w = newWallet();
  const c = await post('/auth/solana/challenge', { publicKey: w.publicKey, purpose: 'link' }, { token: r.accessToken });
  expect(c.statusCode, c.body).toBe(200);
  const linked = await post('/auth/solana/link', { publicKey: w.publicKey, signature: w.sign(c.data.message) }, { token: r.accessToken });
  expect(linked.statusCode, linked.body).toBe(200);
  // A passkey as the registration ceremony stores it (the ceremony itself is covered by the passkey suites).
  await h.t.stores.sql.ownerQuery(
    `INSERT INTO passkey_credentials (tenant_id, user_id, credential_id, public_key, device_type, backed_up, created_at)
     SELECT tenant_id, id, $2, $3, 'singleDevice', false, now() FROM users WHERE id = $1`, [r.userId, randomBytes(16).toString('base64url'), randomBytes(77)]);
  await enableMfa(h.t, r.accessToken);
  expect(await factorRows(r.userId)).toEqual({ mfa: 1, recovery: 10, passkeys: 1, wallets: 1 });
  return { wallet: w };
}

const factorRows = async (userId: string) => ({
  mfa: await count('user_mfa', 'user_id = $1', [userId]),
  recovery: await count('mfa_recovery_codes', 'user_id = $1', [userId]),
  passkeys: await count('passkey_credentials', 'user_id = $1', [userId]),
  wallets: await count('wallet_identities', 'user_id = $1', [userId]),
});

/** Every credential the registrant held is refused; every factor row is gone. */
async function expectRegistrantLockedOut(r: Registrant, o: { wallet?: ReturnType<typeof newWallet> } = {}) {
  expect((await call(h.t.app, { method: 'GET', url: '/auth/user', token: r.accessToken })).statusCode).toBe(401);
  expect((await post('/auth/refresh', { refreshToken: r.refreshToken })).statusCode).toBe(401);
  expect((await call(h.t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': r.apiKey } })).statusCode).toBe(401);
  expect((await post('/auth/login', { email: r.email, password: PASSWORD })).statusCode).toBe(401);
  expect(await count('federated_identities', 'user_id = $1', [r.userId])).toBe(0);
  expect(await count('api_keys', 'user_id = $1 AND revoked_at IS NULL', [r.userId])).toBe(0);
  expect(await factorRows(r.userId)).toEqual({ mfa: 0, recovery: 0, passkeys: 0, wallets: 0 });
  if (o.wallet) {
    // The wallet signs in to a new, empty account of its own, never into the claimed one.
    const c = await post('/auth/solana/challenge', { publicKey: o.wallet.publicKey });
    const s = await post('/auth/solana', { publicKey: o.wallet.publicKey, signature: o.wallet.sign(c.data.message) });
    expect(s.data?.user?.id).not.toBe(r.userId);
  }
}

/** The owner of the mailbox signs in by link, without any MFA of the registrant's, into the same account. */
async function expectOwnerSignsInByLink(r: Registrant) {
  expect((await post('/auth/instant-link', { email: r.email })).statusCode).toBe(200);
  const res = await post('/auth/instant-link/verify', { token: await newestToken(r.email) });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.data.mfaRequired).toBeUndefined();
  expect(res.data.user).toMatchObject({ id: r.userId, emailVerified: true });
  return res.data.tokens.accessToken as string;
}

async function passwordRegistrant(email = address('victim')): Promise<Registrant> {
  const res = await post('/auth/register', { email, password: PASSWORD });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.data.apiKey).toMatch(/^ck_/);
  return { userId: res.data.user.id, email, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey };
}

/** Signs up through the provider with an address the provider did not verify. */
async function oidcRegistrant(email = address('victim-fed')) {
  const acct = account({ email, email_verified: false });
  const res = await fullSignIn();
  expect(res.data).toMatchObject({ isNewUser: true, user: { email, emailVerified: false } });
  expect(res.data.apiKey).toMatch(/^ck_/);
  expect(await count('federated_identities', 'user_id = $1', [res.data.user.id])).toBe(1);
  const r: Registrant = { userId: res.data.user.id, email, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey };
  return { r, acct };
}

/** The attacker asks for the verification mail; the victim opens it in a browser that is not signed in. */
async function victimConfirms(email: string, headers: Record<string, string> = {}) {
  expect((await post('/auth/email/verify/request', { email })).statusCode).toBe(202);
  return post('/auth/email/verify', { token: await newestToken(email) }, { headers });
}

describe('the pre-hijack chain through "Confirm your email address"', () => {
  it('(a) password registrant: once the owner confirms, the password, TOTP, passkey, wallet, key and sessions are dead', async () => {
    const r = await passwordRegistrant();
    const { wallet } = await attachFactors(r);
    const res = await victimConfirms(r.email);
    expect(res.statusCode, res.body).toBe(200);
    await expectRegistrantLockedOut(r, { wallet });
    expect(res.data).toMatchObject({ verified: true, email: r.email, accountClaimed: true });
    // The clicker is told how to get in: the registrant's ways in are gone.
    expect(res.data.message).toMatch(/instant-link/);
    expect(res.data.message).toMatch(/password\/forgot/);
    const [cleared] = await audit('user.unverified_credentials_cleared', r.userId);
    expect(cleared?.metadata).toMatchObject({ via: 'email_verification' });
    await expectOwnerSignsInByLink(r);
  });

  it('(b) OIDC registrant with an unverified provider email: the identity is unlinked, the same subject no longer gets in', async () => {
    const { r, acct } = await oidcRegistrant();
    const res = await victimConfirms(r.email);
    expect(res.statusCode, res.body).toBe(200);
    await expectRegistrantLockedOut(r);
    expect(res.data.accountClaimed).toBe(true);
    // The attacker signs in at the provider again as the same subject, still without a verified email.
    h.op.account = { ...acct };
    const again = await signInAtProvider();
    expect(again.cb.statusCode, again.cb.body).toBe(409);
    expect(again.cb.data.error).toBe('conflict');
    expect(await count('federated_identities', 'subject = $1', [acct.sub])).toBe(0);
    await expectOwnerSignsInByLink(r);
  });

  it('a provider that later verifies the owner\'s address links again after the claim (nothing lost for a real owner)', async () => {
    const { r, acct } = await oidcRegistrant();
    expect((await victimConfirms(r.email)).data.accountClaimed).toBe(true);
    h.op.account = { ...acct, email_verified: true };
    const back = await fullSignIn();
    expect(back.data.user.id).toBe(r.userId);
    expect(await count('federated_identities', 'user_id = $1 AND subject = $2', [r.userId, acct.sub])).toBe(1);
  });

  it('a session of ANOTHER account does not count: the claim still happens', async () => {
    const r = await passwordRegistrant();
    const other = await passwordRegistrant(address('bystander'));
    const res = await victimConfirms(r.email, { authorization: `Bearer ${other.accessToken}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.accountClaimed).toBe(true);
    await expectRegistrantLockedOut(r);
    // The bystander's own account is untouched.
    expect((await call(h.t.app, { method: 'GET', url: '/auth/user', token: other.accessToken })).statusCode).toBe(200);
  });
});

describe('the legitimate registrant verifying with their own session keeps everything', () => {
  it('Bearer access token of the same account: verified, password, key, TOTP and sessions kept', async () => {
    const u = await passwordRegistrant(address('legit'));
    await enableMfa(h.t, u.accessToken);
    expect((await post('/auth/email/verify/request', { email: u.email })).statusCode).toBe(202);
    const res = await post('/auth/email/verify', { token: await newestToken(u.email) }, { token: u.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data).toMatchObject({ verified: true, email: u.email, accountClaimed: false });
    const me = await call(h.t.app, { method: 'GET', url: '/auth/user', token: u.accessToken });
    expect(me.statusCode).toBe(200);
    expect(me.data.emailVerified).toBe(true);
    expect((await call(h.t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': u.apiKey } })).statusCode).toBe(200);
    const login = await post('/auth/login', { email: u.email, password: PASSWORD });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.data.mfaRequired).toBe(true);
    expect((await post('/auth/refresh', { refreshToken: u.refreshToken })).statusCode).toBe(200);
    expect(await audit('user.unverified_credentials_cleared', u.userId)).toHaveLength(0);
  });

  it('the access cookie counts too, under the CSRF rule: without an allowed Origin 403 and the link is not used up', async () => {
    const def = await h.t.deps.tenants.defaultTenant();
    await h.t.deps.tenants.update(def.id, { settings: { allowedOrigins: ['https://app.example'] } });
    const u = await passwordRegistrant(address('legit-cookie'));
    expect((await post('/auth/email/verify/request', { email: u.email })).statusCode).toBe(202);
    const token = await newestToken(u.email);
    const cookie = `__Host-ap_access=${u.accessToken}`;
    const crossSite = await post('/auth/email/verify', { token }, { headers: { cookie, origin: 'https://evil.example' } });
    expect(crossSite.statusCode).toBe(403);
    const ok = await post('/auth/email/verify', { token }, { headers: { cookie, origin: 'https://app.example' } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.data).toMatchObject({ verified: true, accountClaimed: false });
    expect((await post('/auth/login', { email: u.email, password: PASSWORD })).statusCode).toBe(200);
  });

  it('an API key of the account is no session: refused, and the link is not used up', async () => {
    const u = await passwordRegistrant(address('legit-key'));
    expect((await post('/auth/email/verify/request', { email: u.email })).statusCode).toBe(202);
    const token = await newestToken(u.email);
    const withKey = await post('/auth/email/verify', { token }, { headers: { 'x-api-key': u.apiKey } });
    expect(withKey.statusCode).toBe(403);
    expect(withKey.data.error).toBe('forbidden');
    const ok = await post('/auth/email/verify', { token }, { token: u.accessToken });
    expect(ok.data).toMatchObject({ verified: true, accountClaimed: false });
  });
});

describe('every emailed proof of the address goes through the same claim', () => {
  it('magic link: the OIDC registrant\'s identity, key and sessions die; the clicker is signed in', async () => {
    const { r, acct } = await oidcRegistrant(address('ml-fed'));
    const owner = await expectOwnerSignsInByLink(r);
    await expectRegistrantLockedOut(r);
    h.op.account = { ...acct };
    expect((await signInAtProvider()).cb.statusCode).toBe(409);
    expect((await call(h.t.app, { method: 'GET', url: '/auth/user', token: owner })).statusCode).toBe(200);
    const [cleared] = await audit('user.unverified_credentials_cleared', r.userId);
    expect(cleared?.metadata).toMatchObject({ via: 'magic_link' });
  });

  it('password reset: every factor of the registrant dies, the owner\'s new password works', async () => {
    const r = await passwordRegistrant(address('reset'));
    const { wallet } = await attachFactors(r);
    expect((await post('/auth/password/forgot', { email: r.email })).statusCode).toBe(202);
    const NEW = 'the owner chose this passphrase';
    const reset = await post('/auth/password/reset', { token: await newestToken(r.email), password: NEW });
    expect(reset.statusCode, reset.body).toBe(200);
    await expectRegistrantLockedOut(r, { wallet });
    const login = await post('/auth/login', { email: r.email, password: NEW });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.data.mfaRequired).toBeUndefined();
    const [cleared] = await audit('user.unverified_credentials_cleared', r.userId);
    expect(cleared?.metadata).toMatchObject({ via: 'password_reset' });
  });

  it('invite acceptance proves nothing (the inviter holds the token): the registrant cannot verify the address by accepting; the owner claims, then accepts', async () => {
    const inviter = await user(h.t, { prefix: 'inviter' });
    const org = await createOrg(h.t.app, inviter.accessToken);
    const r = await passwordRegistrant(address('invited'));
    const inv = await post(`/auth/orgs/${org.id}/invites`, { email: r.email, roles: ['member'] }, { token: inviter.accessToken });
    expect(inv.statusCode, inv.body).toBe(200);
    // A colluding inviter hands the token to the registrant: it must not turn their account into a verified one.
    const early = await post('/auth/invites/accept', { token: inv.data.token }, { token: r.accessToken });
    expect(early.statusCode).toBe(403);
    expect(await count('users', 'id = $1 AND email_verified', [r.userId])).toBe(0);
    // The owner confirms the address (claiming the account), signs in by link and accepts the mailed invitation.
    expect((await victimConfirms(r.email)).data.accountClaimed).toBe(true);
    await expectRegistrantLockedOut(r);
    const owner = await expectOwnerSignsInByLink(r);
    const mailed = mailsTo(h.t.config.dataDir, r.email).find((m) => m.subject.startsWith('Invitation'))!;
    const accepted = await post('/auth/invites/accept', { token: tokenIn(mailed.text) }, { token: owner });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect((await post('/auth/invites/accept', { token: inv.data.token }, { token: r.accessToken })).statusCode).toBe(401);
  });
});

describe('the verification mail', () => {
  it('says what opening it does for a reader who did not sign up, in the text and the HTML part', async () => {
    const r = await passwordRegistrant(address('mail'));
    expect((await post('/auth/email/verify/request', { email: r.email })).statusCode).toBe(202);
    await drain();
    const mail = mailsTo(h.t.config.dataDir, r.email).at(-1)!;
    for (const part of [mail.text, mail.html]) {
      expect(part).toMatch(/did not sign up/);
      expect(part).toMatch(/without being signed in/);
      expect(part).toMatch(/removed/);
      expect(part).toMatch(/sign-in link/);
    }
  });
});
