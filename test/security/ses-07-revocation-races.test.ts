import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import type { Kv } from '../../src/kv/kv.js';
import { getUser, refresh } from '../helpers/identity.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';
import { enableMfa, freshSessionWithoutStepUp, MFA_TEST_ENV, nextCode, register } from '../integration/mfa/mfa-helpers.js';

/**
 * Issue 24: once a session has ended, nothing brings it back; a sign-in in flight when the user's
 * credential or status changes does not outlive the change. Each race is repeated TRIALS times with
 * varied timing and must leave zero survivors (SECURITY SES-03; docs/decisions.md "Session epoch").
 */
const TRIALS = 50;
/** Argon2id verifications dominate: a few hundred per race on a 2-core machine. */
const RACE_TIMEOUT = 300_000;
let t: TestApp;
let stores: Stores;
/**
 * Runs once before the store read of a key containing every `*`-separated part of the fragment, in order
 * (keys carry a hash tag between area and id: `sess-org:{<tenant>:<user>}:<sid>`): a deterministic interleaving.
 */
const beforeRead = new Map<string, () => Promise<unknown>>();
function matches(key: string, fragment: string): boolean {
  let from = 0;
  for (const part of fragment.split('*')) {
    const at = key.indexOf(part, from);
    if (at < 0) return false;
    from = at + part.length;
  }
  return true;
}
function interleaving(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === 'get') {
        return async (key: string) => {
          for (const [fragment, hook] of beforeRead) {
            if (matches(key, fragment)) { beforeRead.delete(fragment); await hook(); }
          }
          return target.get(key);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
beforeAll(async () => {
  // The store's TTL clock follows the app's manual clock once the app exists.
  let now = () => Date.now();
  const base = await createStores({ now: () => now() });
  stores = { ...base, kv: interleaving(base.kv) };
  t = await createTestApp({ env: MFA_TEST_ENV, stores });
  now = () => t.clock.nowMs();
});
afterAll(async () => { await t?.close(); await stores?.drop(); });

const jitter = (maxMs: number) => sleep(Math.floor(Math.random() * (maxMs + 1)));
const loginAs = (email: string, password: string) => call(t.app, { method: 'POST', url: '/auth/login', json: { email, password } });

/** Every credential a sign-in handed out still works somewhere: the access token or the refresh token. */
async function survives(tokens: { accessToken: string; refreshToken?: string }): Promise<string | null> {
  const user = await getUser(t.app, tokens.accessToken);
  if (user.statusCode !== 401) return `access token answered ${user.statusCode}`;
  if (tokens.refreshToken) {
    const r = await refresh(t.app, tokens.refreshToken);
    if (r.statusCode !== 401) return `refresh token answered ${r.statusCode}`;
  }
  return null;
}

describe(`SES-07 revocation races (${BACKEND}; ${TRIALS} trials each, zero survivors)`, () => {
  it('a logout landing between the step-up reading the session and writing it: the session stays ended', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    for (let i = 0; i < 3; i++) {
      const s = await freshSessionWithoutStepUp(t, u.email, secret);
      let logout: Awaited<ReturnType<typeof call>> | undefined;
      // The step-up reads the session, then its active org, then writes: the logout runs at the second read.
      beforeRead.set(`sess-org:*:${s.sessionId}`, async () => { logout = await call(t.app, { method: 'POST', url: '/auth/logout', token: s.accessToken }); });
      const stepUp = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: nextCode(t, secret) } });
      expect(beforeRead.size, 'the interleaving point was reached').toBe(0);
      expect(logout?.statusCode).toBe(200);
      expect(stepUp.statusCode).toBe(401);
      for (const token of [s.accessToken, stepUp.data?.accessToken].filter(Boolean)) expect((await getUser(t.app, token)).statusCode).toBe(401);
      expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
    }
  });

  it('a step-up racing a logout never revives the session', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const survivors: string[] = [];
    let bothSucceeded = 0;
    for (let i = 0; i < TRIALS; i++) {
      const s = await freshSessionWithoutStepUp(t, u.email, secret);
      const code = nextCode(t, secret);
      const [stepUp, logout] = await Promise.all([
        call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code } }),
        jitter(20).then(() => call(t.app, { method: 'POST', url: '/auth/logout', token: s.accessToken })),
      ]);
      expect([200, 401]).toContain(stepUp.statusCode);
      expect([200, 401]).toContain(logout.statusCode);
      if (logout.statusCode !== 200) continue;
      if (stepUp.statusCode === 200) bothSucceeded++;
      const minted = stepUp.data?.accessToken as string | undefined;
      for (const token of [s.accessToken, ...(minted ? [minted] : [])]) {
        const why = await survives({ accessToken: token });
        if (why) survivors.push(`trial ${i}: ${why}`);
      }
      const r = await refresh(t.app, s.refreshToken);
      if (r.statusCode !== 401) survivors.push(`trial ${i}: the session's refresh token answered ${r.statusCode}`);
    }
    expect(survivors).toEqual([]);
    // No session lives outside the user's index: after every logout, the list holds the sign-up session
    // and the one that reads it, nothing else.
    const listed = await call(t.app, { method: 'GET', url: '/auth/sessions', token: (await freshSessionWithoutStepUp(t, u.email, secret)).accessToken });
    expect(listed.statusCode).toBe(200);
    expect(listed.data.items).toHaveLength(2);
    console.info(`step-up vs logout: both answered success in ${bothSucceeded} of ${TRIALS} trials`);
  }, RACE_TIMEOUT);

  it('logins in flight do not outlive a password reset', async () => {
    const email = `race-reset-${Date.now()}@example.com`;
    let password = 'correct horse battery staple 0';
    expect((await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password } })).statusCode).toBe(200);
    const survivors: string[] = [];
    let loginsAfterReset = 0;
    for (let i = 0; i < TRIALS; i++) {
      t.clock.advance(4 * 60_000); // the mail cap allows 5 reset mails per address in 15 minutes
      const before = new Set(mailsTo(t.config.dataDir, email).map((m) => m.file));
      const forgot = await call(t.app, { method: 'POST', url: '/auth/password/forgot', json: { email } });
      expect(forgot.statusCode).toBe(202);
      await t.deps.services.mailer.drain();
      const mail = mailsTo(t.config.dataDir, email).find((m) => !before.has(m.file));
      const token = tokenIn(mail!.text);
      const next = `correct horse battery staple ${i + 1}`;
      let resetDone = false;
      const logins = Array.from({ length: 6 }, () => jitter(120).then(async () => {
        const res = await loginAs(email, password);
        if (res.statusCode === 200 && resetDone) loginsAfterReset++;
        return res;
      }));
      const reset = await call(t.app, { method: 'POST', url: '/auth/password/reset', json: { token, password: next } });
      resetDone = true;
      expect(reset.statusCode, reset.body).toBe(200);
      for (const res of await Promise.all(logins)) {
        expect([200, 401]).toContain(res.statusCode);
        if (res.statusCode !== 200) continue;
        const why = await survives(res.data.tokens);
        if (why) survivors.push(`trial ${i}: a login with the old password: ${why}`);
      }
      password = next;
    }
    expect(survivors).toEqual([]);
    expect(loginsAfterReset).toBe(0);
  }, RACE_TIMEOUT);

  it('logins in flight do not outlive a password change', async () => {
    const email = `race-change-${Date.now()}@example.com`;
    let password = 'correct horse battery staple 0';
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password } });
    expect(reg.statusCode).toBe(200);
    let keeper = reg.data.tokens.accessToken as string;
    const survivors: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const next = `correct horse battery staple ${i + 1}`;
      const logins = Array.from({ length: 4 }, () => jitter(150).then(() => loginAs(email, password)));
      const change = await call(t.app, { method: 'POST', url: '/auth/password/change', token: keeper, json: { currentPassword: password, newPassword: next } });
      expect(change.statusCode, change.body).toBe(200);
      for (const res of await Promise.all(logins)) {
        if (res.statusCode !== 200) continue;
        const why = await survives(res.data.tokens);
        if (why) survivors.push(`trial ${i}: a login with the old password: ${why}`);
      }
      // The changer's own session is kept (SES-03) and signs the next change.
      expect((await getUser(t.app, keeper)).statusCode).toBe(200);
      password = next;
      keeper = (await loginAs(email, password)).data.tokens.accessToken;
    }
    expect(survivors).toEqual([]);
  }, RACE_TIMEOUT);

  it('logins in flight do not outlive disabling the user', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const email = `race-disable-${Date.now()}@example.com`;
    const password = 'correct horse battery staple';
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password } });
    const userId = reg.data.user.id as string;
    const survivors: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const logins = Array.from({ length: 4 }, () => jitter(60).then(() => loginAs(email, password)));
      await jitter(30);
      await t.deps.services.users.setDisabled(tenant.id, userId, true);
      const answered = await Promise.all(logins);
      // Re-enabling must not bring back anything that was signed in before or while the user was disabled.
      await t.deps.services.users.setDisabled(tenant.id, userId, false);
      for (const res of answered) {
        if (res.statusCode !== 200) continue;
        const why = await survives(res.data.tokens);
        if (why) survivors.push(`trial ${i}: ${why}`);
      }
    }
    expect(survivors).toEqual([]);
  }, RACE_TIMEOUT);

  it('an MFA sign-in whose first factor was checked before a password reset does not complete', async () => {
    const u = await register(t);
    const { secret } = await enableMfa(t, u.accessToken);
    const first = await loginAs(u.email, 'correct horse battery staple');
    expect(first.data.mfaRequired).toBe(true);
    await t.deps.services.sessions.revokeAll((await t.deps.tenants.defaultTenant()).id, u.userId);
    const second = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken: first.data.mfaToken, code: nextCode(t, secret) } });
    expect(second.statusCode).toBe(401);
  });
});
