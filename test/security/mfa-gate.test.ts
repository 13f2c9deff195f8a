import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { newWallet } from '../integration/solana/wallet.js';
import {
  enableMfa, freshSessionWithoutStepUp, loginWithMfa, MFA_TEST_ENV, newEmail, nextCode, PASSWORD, register, type TestUser,
} from '../integration/mfa/mfa-helpers.js';

/** SECURITY MFA-08 (every sensitive route is gated; API keys get 403), MFA-09 (challenges), SES-02 steps 3–4, requireMfaForAdmins. */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MFA_TEST_ENV });
  await t.deps.tenants.create({ slug: 'mfa-adm', name: 'Adm', settings: { requireMfaForAdmins: true } });
});
afterAll(async () => { await t?.close(); });

interface Req { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; json?: unknown }
const send = (r: Req, token: string, headers: Record<string, string> = {}) => call(t.app, { method: r.method, url: r.url, token, headers, ...(r.json !== undefined ? { json: r.json } : {}) });

async function mfaUser(): Promise<TestUser & { secret: string; orgId: string; keyId: string }> {
  const u = await register(t);
  const { secret } = await enableMfa(t, u.accessToken);
  const org = await call(t.app, { method: 'POST', url: '/auth/orgs', token: u.accessToken, json: { name: `Org ${u.email}` } });
  expect(org.statusCode, org.body).toBe(200);
  const keys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.accessToken });
  expect(keys.statusCode, keys.body).toBe(200);
  return { ...u, secret, orgId: org.data.id, keyId: keys.data.items[0].id };
}

/** The sensitive routes of DESIGN §4 and SECURITY §D-8 that exist, each with a valid request. */
function sensitiveRoutes(u: { orgId: string; keyId: string; userId: string }): Req[] {
  const w = newWallet();
  return [
    { method: 'DELETE', url: '/auth/sessions' },
    { method: 'POST', url: '/auth/mfa/disable', json: { code: '123456' } },
    { method: 'POST', url: '/auth/mfa/recovery-codes' },
    { method: 'POST', url: '/auth/api-keys', json: { name: 'gated', scopes: ['*'] } },
    { method: 'POST', url: '/auth/user/api-key/regenerate' },
    { method: 'DELETE', url: `/auth/api-keys/${u.keyId}` },
    { method: 'DELETE', url: `/auth/orgs/${u.orgId}` },
    // a member role change to admin/owner (the handler calls requireStepUp conditionally)
    { method: 'PATCH', url: `/auth/orgs/${u.orgId}/members/${u.userId}`, json: { roles: ['admin'] } },
    { method: 'POST', url: '/auth/password/change', json: { currentPassword: PASSWORD, newPassword: 'another long passphrase 77' } },
    { method: 'POST', url: '/auth/solana/link', json: { publicKey: w.publicKey, signature: w.sign('anything') } },
    { method: 'DELETE', url: '/auth/solana/link' },
    { method: 'POST', url: '/auth/passkeys/register/options' },
    { method: 'DELETE', url: `/auth/passkeys/${randomUUID()}` },
  ];
}

describe('MFA-08 the gate covers every sensitive route and cannot be skipped with an API key', () => {
  it('each sensitive route answers 401 totp_required with a challenge to a session without a recent step-up', async () => {
    const u = await mfaUser();
    const s = await freshSessionWithoutStepUp(t, u.email, u.secret);
    for (const r of sensitiveRoutes(u)) {
      const res = await send(r, s.accessToken);
      expect(res.statusCode, `${r.method} ${r.url}: ${res.body}`).toBe(401);
      expect(res.data, `${r.method} ${r.url}`).toMatchObject({ error: 'totp_required', challenge: expect.stringMatching(/^ch_/) });
    }
    // nothing ran: the session, the org and the key are still there
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: s.accessToken })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${u.orgId}`, token: s.accessToken })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: s.accessToken })).data.enabled).toBe(true);
  });

  it('with the user\'s ck_ key each answers 403 forbidden, with MFA on or off', async () => {
    const u = await mfaUser();
    const plain = await register(t);
    for (const [who, key] of [['mfa', u.apiKey!], ['no-mfa', plain.apiKey!]] as const) {
      expect(key).toMatch(/^ck_/);
      for (const r of sensitiveRoutes(u)) {
        const res = await send(r, key);
        expect(res.statusCode, `${who} ${r.method} ${r.url}: ${res.body}`).toBe(403);
        expect(res.data.error).toBe('forbidden');
        expect(res.data.challenge).toBeUndefined();
      }
    }
    // the key itself still works where keys are allowed
    expect((await call(t.app, { method: 'GET', url: '/auth/user', token: u.apiKey })).statusCode).toBe(200);
    const refused = (await t.deps.audit.list({ action: 'mfa.step_up_refused', limit: 200 })).items;
    expect(refused.length).toBeGreaterThan(0);
  });

  it('a user without MFA passes the gate; a stepped-up session passes it', async () => {
    const plain = await register(t);
    expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: plain.accessToken, json: { name: 'k', scopes: ['*'] } })).statusCode).toBe(201);
    const u = await mfaUser();
    const s = await freshSessionWithoutStepUp(t, u.email, u.secret);
    expect((await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: nextCode(t, u.secret) } })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: s.accessToken, json: { name: 'k', scopes: ['*'] } })).statusCode).toBe(201);
  });
});

  it('runs before an Idempotency-Key replay: a stored 201 of POST /auth/api-keys (with its secret) is not replayed once the step-up lapsed', async () => {
    const u = await mfaUser();
    const s = await loginWithMfa(t, u.email, u.secret);
    const req = { method: 'POST' as const, url: '/auth/api-keys', token: s.accessToken, headers: { 'idempotency-key': `gate-${randomUUID()}` }, json: { name: 'replayed?', scopes: ['*'] } };
    const first = await call(t.app, req);
    expect(first.statusCode, first.body).toBe(201);
    expect((await call(t.app, req)).headers['idempotent-replayed']).toBe('true');
    t.clock.advance(5 * 60_000 + 1_000);
    const later = await call(t.app, req);
    expect(later.statusCode, later.body).toBe(401);
    expect(later.data.error).toBe('totp_required');
    expect(first.data.apiKey).toMatch(/^ck_/);
    expect(later.body).not.toContain(first.data.apiKey);
  });

describe('SES-02 steps 3–4: DELETE /auth/sessions through the challenge', () => {
  it('totp_required, then complete and retry: every token of the user is dead', async () => {
    const u = await mfaUser();
    const s = await freshSessionWithoutStepUp(t, u.email, u.secret);
    const first = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: s.accessToken });
    expect(first.data.error).toBe('totp_required');
    const done = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: first.data.challenge, code: nextCode(t, u.secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const retry = await call(t.app, { method: 'DELETE', url: '/auth/sessions', token: s.accessToken, headers: { 'x-totp-challenge': first.data.challenge } });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.data.revoked).toBeGreaterThanOrEqual(2);
    for (const at of [s.accessToken, u.accessToken]) expect((await call(t.app, { method: 'GET', url: '/auth/user', token: at })).statusCode).toBe(401);
    for (const rt of [s.refreshToken, u.refreshToken]) expect((await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: rt } })).statusCode).toBe(401);
  });
});

describe('MFA-09 challenges are bound, single-use and short-lived', () => {
  async function setup() {
    const u = await mfaUser();
    const s = await freshSessionWithoutStepUp(t, u.email, u.secret);
    const k1 = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: s.accessToken });
    return { u, s, k1: k1.data.items[0].id as string };
  }
  /** Asks the gate for a challenge on `r` and completes it with the next code. */
  async function completed(r: Req, token: string, secret: string): Promise<string> {
    const g = await send(r, token);
    expect(g.data.error, g.body).toBe('totp_required');
    const c = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token, json: { challenge: g.data.challenge, code: nextCode(t, secret) } });
    expect(c.statusCode, c.body).toBe(200);
    return g.data.challenge;
  }
  const expectGateRefusal = (res: { statusCode: number; data: any; body: string }) => {
    expect(res.statusCode, res.body).toBe(401);
    expect(res.data.error).toBe('totp_required');
  };

  it('step 1–3: ch1 works once for DELETE K1; with K2, or again with K1 → 401', async () => {
    const { u, s, k1 } = await setup();
    const created = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: s.accessToken, json: { code: nextCode(t, u.secret) } });
    const k2 = (await call(t.app, { method: 'POST', url: '/auth/api-keys', token: created.data.accessToken, json: { name: 'k2', scopes: ['*'] } })).data.id;
    t.clock.advance(5 * 60_000 + 1_000);
    const del1: Req = { method: 'DELETE', url: `/auth/api-keys/${k1}` };
    const del2: Req = { method: 'DELETE', url: `/auth/api-keys/${k2}` };
    const ch1 = await completed(del1, s.accessToken, u.secret);
    expect((await send(del1, s.accessToken, { 'x-totp-challenge': ch1 })).statusCode).toBe(204);
    expectGateRefusal(await send(del2, s.accessToken, { 'x-totp-challenge': ch1 }));
    expectGateRefusal(await send(del1, s.accessToken, { 'x-totp-challenge': ch1 }));
    // a completed challenge for K2's path is spent by a use on another path, and then no longer works on K2
    const chX = await completed(del2, s.accessToken, u.secret);
    expectGateRefusal(await send({ method: 'DELETE', url: '/auth/sessions' }, s.accessToken, { 'x-totp-challenge': chX }));
    expectGateRefusal(await send(del2, s.accessToken, { 'x-totp-challenge': chX }));
    const keys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: s.accessToken });
    expect(keys.data.items.map((k: { id: string }) => k.id)).toContain(k2);
  });

  it('bound to the method: a challenge for DELETE /solana/link does not pass POST /solana/link', async () => {
    const { u, s } = await setup();
    const ch = await completed({ method: 'DELETE', url: '/auth/solana/link' }, s.accessToken, u.secret);
    const w = newWallet();
    expectGateRefusal(await send({ method: 'POST', url: '/auth/solana/link', json: { publicKey: w.publicKey, signature: w.sign('x') } }, s.accessToken, { 'x-totp-challenge': ch }));
  });

  it('step 4: bound to the user and the session (another session of the same user, or U2, cannot use or complete it)', async () => {
    const u = await mfaUser();
    const u2 = await mfaUser();
    const s = await loginWithMfa(t, u.email, u.secret);
    const other = await loginWithMfa(t, u.email, u.secret);
    const s2 = await loginWithMfa(t, u2.email, u2.secret);
    t.clock.advance(5 * 60_000 + 1_000); // the sign-ins' step-up marks lapse
    const r: Req = { method: 'POST', url: '/auth/mfa/recovery-codes' };
    const ch = await completed(r, s.accessToken, u.secret);
    expectGateRefusal(await send(r, other.accessToken, { 'x-totp-challenge': ch }));
    expectGateRefusal(await send(r, s.accessToken, { 'x-totp-challenge': ch })); // spent by the refused use

    const g = await send(r, s.accessToken);
    const foreign = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s2.accessToken, json: { challenge: g.data.challenge, code: nextCode(t, u2.secret) } });
    expect(foreign.statusCode).toBe(401);
    expect(foreign.data.error).toBe('invalid_token');
    const ch2 = await completed(r, s.accessToken, u.secret);
    expectGateRefusal(await send(r, s2.accessToken, { 'x-totp-challenge': ch2 }));
  });

  it('step 5: a challenge older than 5 minutes can neither be completed nor used', async () => {
    const { u, s } = await setup();
    const r: Req = { method: 'POST', url: '/auth/mfa/recovery-codes' };
    const ch = await completed(r, s.accessToken, u.secret);
    t.clock.advance(5 * 60_000);
    expectGateRefusal(await send(r, s.accessToken, { 'x-totp-challenge': ch }));
    // a fresh access token of the same session (the 15-minute token would expire during the wait)
    const at = async () => (await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken: s.refreshToken } })).data.tokens.accessToken as string;
    const token = await at();
    const g = await send(r, token);
    t.clock.advance(5 * 60_000 + 1_000);
    const late = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token, json: { challenge: g.data.challenge, code: nextCode(t, u.secret) } });
    expect(late.statusCode).toBe(401);
    expect(late.data.error).toBe('invalid_token');
  });

  it('steps 6–8: a random ch_ value, a challenge not yet completed, and a wrong code at /totp/complete', async () => {
    const { u, s } = await setup();
    const r: Req = { method: 'POST', url: '/auth/mfa/recovery-codes' };
    expectGateRefusal(await send(r, s.accessToken, { 'x-totp-challenge': `ch_${'x'.repeat(43)}` }));
    const g = await send(r, s.accessToken);
    expectGateRefusal(await send(r, s.accessToken, { 'x-totp-challenge': g.data.challenge }));
    // that early use spent it: it can no longer be completed
    const spent = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g.data.challenge, code: nextCode(t, u.secret) } });
    expect(spent.statusCode).toBe(401);
    const g2 = await send(r, s.accessToken);
    const wrong = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g2.data.challenge, code: '000000' === nextCode(t, u.secret) ? '000001' : '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.data.error).toBe('invalid_code');
    const failures = (await t.deps.audit.list({ action: 'mfa.challenge.complete', actorId: u.userId, limit: 50 })).items.filter((x) => x.outcome === 'failure');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    // a completed challenge cannot be completed twice (and no second code is spent on it)
    const g3 = await send(r, s.accessToken);
    expect((await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g3.data.challenge, code: nextCode(t, u.secret) } })).statusCode).toBe(200);
    const twice = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token: s.accessToken, json: { challenge: g3.data.challenge, code: nextCode(t, u.secret) } });
    expect(twice.statusCode).toBe(409);
    expect((await send(r, s.accessToken, { 'x-totp-challenge': g3.data.challenge })).statusCode).toBe(200);
  });

  it('the challenge value never reaches the audit log or the logs', async () => {
    const { s } = await setup();
    const g = await send({ method: 'POST', url: '/auth/mfa/recovery-codes' }, s.accessToken);
    await send({ method: 'POST', url: '/auth/mfa/recovery-codes' }, s.accessToken, { 'x-totp-challenge': g.data.challenge });
    expect(JSON.stringify((await t.deps.audit.list({ limit: 500 })).items)).not.toContain(g.data.challenge);
    expect(t.logs.join('\n')).not.toContain(g.data.challenge);
  });
});

describe('requireMfaForAdmins (tenant setting)', () => {
  const h = { 'x-tenant-id': 'mfa-adm' };
  it('an org owner without MFA gets 403 mfa_enrollment_required at gated routes; a plain member passes; enrolling lifts it', async () => {
    const owner = await register(t, { tenant: 'mfa-adm', email: newEmail('adm') });
    const org = await call(t.app, { method: 'POST', url: '/auth/orgs', token: owner.accessToken, json: { name: 'Adm Org' } });
    expect(org.statusCode, org.body).toBe(200);
    const res = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: owner.accessToken, json: { name: 'k', scopes: ['*'] } });
    expect(res.statusCode, res.body).toBe(403);
    expect(res.data.error).toBe('mfa_enrollment_required');
    expect((await t.deps.audit.list({ action: 'mfa.enrollment_required', limit: 10 })).items.length).toBeGreaterThan(0);
    // MFA enrolment itself is not gated
    const { secret } = await enableMfa(t, owner.accessToken, h);
    const after = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: owner.accessToken, json: { name: 'k', scopes: ['*'] } });
    expect(after.data.error).toBe('totp_required');
    const v = await call(t.app, { method: 'POST', url: '/auth/mfa/verify', token: owner.accessToken, json: { code: nextCode(t, secret) } });
    expect(v.statusCode, v.body).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: owner.accessToken, json: { name: 'k', scopes: ['*'] } })).statusCode).toBe(201);

    const member = await register(t, { tenant: 'mfa-adm', email: newEmail('member') });
    expect((await call(t.app, { method: 'POST', url: '/auth/api-keys', token: member.accessToken, json: { name: 'k', scopes: ['*'] } })).statusCode).toBe(201);
  });
});
