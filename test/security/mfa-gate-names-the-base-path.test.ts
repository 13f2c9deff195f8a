import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { totpAt } from '../../src/modules/mfa/totp.js';
import { MFA_TEST_ENV, PASSWORD } from '../integration/mfa/mfa-helpers.js';

/**
 * Issue 25: the REST gate's 401 totp_required (and 403 mfa_enrollment_required) tells the client which
 * route to call next. With AUTH_BASE_PATH set, that route must be named with the real base path — an
 * agent that follows the message literally must reach the route.
 */
const BASE = '/id/v2';
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { ...MFA_TEST_ENV, AUTH_BASE_PATH: BASE } });
  await t.deps.tenants.create({ slug: 'bp-adm', name: 'BP', settings: { requireMfaForAdmins: true } });
});
afterAll(async () => { await t?.close(); });

const code = () => { t.clock.advance(30_000); return (s: string) => totpAt(s, Math.floor(t.clock.nowMs() / 1000)); };
let n = 0;

async function registerUser(tenant?: string) {
  const email = `bp${++n}-${process.pid}@example.com`;
  const headers = tenant ? { 'x-tenant-id': tenant } : {};
  const r = await call(t.app, { method: 'POST', url: `${BASE}/register`, headers, json: { email, password: PASSWORD } });
  expect(r.statusCode, r.body).toBe(200);
  return { email, token: r.data.tokens.accessToken as string, headers };
}

describe('the TOTP gate names its routes under AUTH_BASE_PATH', () => {
  it('totp_required says POST <base>/totp/complete and <base>/mfa/verify, and that path completes the challenge', async () => {
    const u = await registerUser();
    const setup = await call(t.app, { method: 'POST', url: `${BASE}/mfa/setup`, token: u.token });
    expect(setup.statusCode, setup.body).toBe(200);
    const secret = setup.data.secret as string;
    const en = await call(t.app, { method: 'POST', url: `${BASE}/mfa/enable`, token: u.token, json: { code: code()(secret) } });
    expect(en.statusCode, en.body).toBe(200);
    const login = await call(t.app, { method: 'POST', url: `${BASE}/login`, json: { email: u.email, password: PASSWORD } });
    const mfa = await call(t.app, { method: 'POST', url: `${BASE}/login/mfa`, json: { mfaToken: login.data.mfaToken, code: code()(secret) } });
    expect(mfa.statusCode, mfa.body).toBe(200);
    const at = mfa.data.tokens.accessToken as string;
    expect(decodeJwt(at).sid).toBeTruthy();
    t.clock.advance(5 * 60_000 + 1_000); // the sign-in's step-up lapses

    const gated = await call(t.app, { method: 'DELETE', url: `${BASE}/sessions`, token: at });
    expect(gated.statusCode, gated.body).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    const message = gated.data.message as string;
    expect(message).toContain(`POST ${BASE}/totp/complete`);
    expect(message).toContain(`POST ${BASE}/mfa/verify`);
    // No route is named without the base path.
    expect(message).not.toMatch(/POST \/(?:totp|mfa)\//);

    // Following the message literally works.
    const done = await call(t.app, { method: 'POST', url: `${BASE}/totp/complete`, token: at, json: { challenge: gated.data.challenge, code: code()(secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const again = await call(t.app, { method: 'DELETE', url: `${BASE}/sessions`, token: at, headers: { 'x-totp-challenge': gated.data.challenge } });
    expect(again.statusCode, again.body).toBe(200);
  });

  it('mfa_enrollment_required names <base>/mfa/setup and <base>/mfa/enable', async () => {
    const u = await registerUser('bp-adm');
    const org = await call(t.app, { method: 'POST', url: `${BASE}/orgs`, token: u.token, headers: u.headers, json: { name: 'Owned' } });
    expect(org.statusCode, org.body).toBe(200);
    const del = await call(t.app, { method: 'DELETE', url: `${BASE}/orgs/${org.data.id}`, token: u.token, headers: u.headers });
    expect(del.statusCode, del.body).toBe(403);
    expect(del.data.error).toBe('mfa_enrollment_required');
    expect(del.data.message).toContain(`POST ${BASE}/mfa/setup`);
    expect(del.data.message).toContain(`${BASE}/mfa/enable`);
    expect(del.data.message).not.toMatch(/POST \/mfa\//);
  });
});
