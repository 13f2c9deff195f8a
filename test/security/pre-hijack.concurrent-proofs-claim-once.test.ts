import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type TestApp } from '../helpers/app.js';
import { readOutbox, tokenIn } from '../helpers/mail.js';
import { linkHelpers, PASSWORD, startLinkApp } from '../helpers/email-links.js';
import { LINK_LANDINGS } from '../../src/modules/one-time-tokens/mail.js';

/**
 * Race harness for the account claim (src/modules/users/claim.ts): the owner of an address that someone
 * else registered uses the verification link, a reset link and a sign-in link at the same moment. The
 * proofs serialize on the user row: the account is claimed exactly once, the registrant's password,
 * key and session are dead whichever proof wins, and the password the owner chose in the reset is the
 * one that works (a later proof never strips it). TRIALS accounts, zero survivors.
 */
const TRIALS = 50;
let t: TestApp;
let defaultId: string;
beforeAll(async () => {
  ({ t, defaultId } = await startLinkApp({ redirectUrl: 'https://app.example.com/cb', tenants: [] }));
});
afterAll(async () => { await t?.close(); });

const { address, drain, register } = linkHelpers(() => ({ t, defaultId }), 'race');
const post = (url: string, json: unknown, token?: string) => call(t.app, { method: 'POST', url, json, token });
const OWNER = 'the owner picked this passphrase';

describe('concurrent proofs of one address claim the account once', () => {
  it(`${TRIALS} accounts, verification ‖ reset ‖ sign-in link each: one claim, no registrant credential survives`, async () => {
    const registrants = [];
    for (let i = 0; i < TRIALS; i++) registrants.push(await register(address()));
    for (const r of registrants) {
      for (const url of ['/auth/email/verify/request', '/auth/password/forgot', '/auth/instant-link']) {
        // The Cedros instant link answers 200; the other two keep their 202.
        expect((await post(url, { email: r.email })).statusCode).toBe(url === '/auth/instant-link' ? 200 : 202);
      }
    }
    await drain();
    const mails = readOutbox(t.config.dataDir);
    // The links land on the hosted pages when they are on (LINK_LANDINGS), else on the API path.
    const tokenOf = (to: string, path: string) => {
      const landing = `${LINK_LANDINGS[path.replace(/\?$/, '')]}?`;
      return tokenIn(mails.find((m) => m.to === to && (m.text.includes(path) || m.text.includes(landing)))!.text);
    };

    const survivors: string[] = [];
    for (const r of registrants) {
      const [verified, reset, signedIn] = await Promise.all([
        post('/auth/email/verify', { token: tokenOf(r.email, '/email/verify?') }),
        post('/auth/password/reset', { token: tokenOf(r.email, '/password/reset?'), password: OWNER }),
        post('/auth/instant-link/verify', { token: tokenOf(r.email, '/instant-link/verify?') }),
      ]);
      expect([verified.statusCode, reset.statusCode], `${verified.body} ${reset.body}`).toEqual([200, 200]);
      // The sign-in link signs in, unless the reset ended the account's sessions while it was starting its
      // own: then it fails cleanly rather than start a session the reset did not end (the session epoch).
      if (signedIn.statusCode !== 200) expect(signedIn.data?.error, signedIn.body).toBe('invalid_credentials');
      const claims = (await t.deps.audit.list({ tenantId: defaultId, action: 'user.unverified_credentials_cleared', actorId: r.userId, limit: 10 })).items;
      const left = {
        claims: claims.length,
        oldPassword: (await post('/auth/login', { email: r.email, password: PASSWORD })).statusCode,
        ownerPassword: (await post('/auth/login', { email: r.email, password: OWNER })).statusCode,
        session: (await call(t.app, { method: 'GET', url: '/auth/user', token: r.accessToken })).statusCode,
        key: (await call(t.app, { method: 'GET', url: '/auth/user', headers: { 'x-api-key': r.apiKey! } })).statusCode,
        refresh: (await post('/auth/refresh', { refreshToken: r.refreshToken })).statusCode,
      };
      const want = { claims: 1, oldPassword: 401, ownerPassword: 200, session: 401, key: 401, refresh: 401 };
      if (JSON.stringify(left) !== JSON.stringify(want)) survivors.push(`${r.email}: ${JSON.stringify(left)}`);
    }
    expect(survivors).toEqual([]);
  }, 240_000);
});
