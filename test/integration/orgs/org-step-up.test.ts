import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { enableMfa, freshSessionWithoutStepUp, MFA_TEST_ENV, nextCode } from '../mfa/mfa-helpers.js';
import { apiKey, createOrg, join, storedRoles, user } from './org-helpers.js';

/** DESIGN §4: org deletion and member role changes to admin/owner pass the TOTP gate; API keys cannot. */
let t: TestApp;
beforeAll(async () => { t = await createTestApp({ env: MFA_TEST_ENV }); });
afterAll(async () => { await t?.close(); });

async function mfaOwnerWithOrg() {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  const m = await user(t);
  await join(t.app, owner.accessToken, org.id, m, ['member']);
  const { secret } = await enableMfa(t, owner.accessToken);
  const s = await freshSessionWithoutStepUp(t, owner.email, secret);
  return { owner, org, m, secret, token: s.accessToken };
}

describe('the TOTP gate on sensitive org changes', () => {
  it('deleting an org asks for a TOTP challenge, then accepts the repeated request', async () => {
    const { org, secret, token } = await mfaOwnerWithOrg();
    const gated = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}`, token });
    expect(gated.statusCode, gated.body).toBe(401);
    expect(gated.data.error).toBe('totp_required');
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}`, token })).statusCode).toBe(200);
    const done = await call(t.app, { method: 'POST', url: '/auth/totp/complete', token, json: { challenge: gated.data.challenge, code: nextCode(t, secret) } });
    expect(done.statusCode, done.body).toBe(200);
    const retry = await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}`, token, headers: { 'x-totp-challenge': gated.data.challenge } });
    expect(retry.statusCode, retry.body).toBe(200);
  });

  it('granting admin or owner is gated; other member changes are not', async () => {
    const { org, m, token } = await mfaOwnerWithOrg();
    for (const roles of [['admin'], ['member', 'OWNER']]) {
      const res = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${m.userId}`, token, json: { roles } });
      expect(res.statusCode, roles.join()).toBe(401);
      expect(res.data.error).toBe('totp_required');
    }
    expect(await storedRoles(t, org.id, m.userId)).toEqual(['member']);
    const plain = await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${m.userId}`, token, json: { roles: ['member'], attributes: { team: 'a' } } });
    expect(plain.statusCode, plain.body).toBe(200);
  });

  it('an API key cannot delete an org or grant admin (403), whatever its scopes', async () => {
    const owner = await user(t, { prefix: 'owner' });
    const org = await createOrg(t.app, owner.accessToken);
    const m = await user(t);
    await join(t.app, owner.accessToken, org.id, m, ['member']);
    const key = await apiKey(t.app, owner.accessToken, ['orgs:*']);
    expect((await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}`, token: key })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${m.userId}`, token: key, json: { roles: ['admin'] } })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'PATCH', url: `/auth/orgs/${org.id}/members/${m.userId}`, token: key, json: { attributes: { a: 1 } } })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}`, token: owner.accessToken })).statusCode).toBe(200);
  });
});
