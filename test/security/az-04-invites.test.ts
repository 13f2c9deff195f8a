import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { login, raiseLimits, register, newEmail } from '../helpers/identity.js';
import { mailsTo } from '../helpers/mail.js';
import { createOrg, rows, storedRoles, user, verifyEmail } from '../integration/orgs/org-helpers.js';

/** SECURITY AZ-04 (invitations) and PWD-08 (the invite mail's link). */
let t: TestApp;
const APP_ACCEPT_PAGE = 'https://app.example.com/accept-invite';
beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  const d = await t.deps.tenants.resolve('default');
  await t.deps.tenants.update(d!.id, { settings: { redirectUrls: [APP_ACCEPT_PAGE] } });
});
afterAll(async () => { await t?.close(); });

async function setup() {
  const owner = await user(t, { prefix: 'owner' });
  const org = await createOrg(t.app, owner.accessToken);
  return { owner, org };
}
const invite = (token: string, orgId: string, json: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: `/auth/orgs/${orgId}/invites`, token, json, headers });
const accept = (token: string, inviteToken: string, headers: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/invites/accept', token, json: { token: inviteToken }, headers });

describe('AZ-04 invitations', () => {
  it('a 256-bit token is accepted once by the invited address; a replay gets 410', async () => {
    const { owner, org } = await setup();
    const b = await user(t);
    const inv = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    expect(inv.statusCode).toBe(200);
    expect(Buffer.from(inv.data.token, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    const stored = await t.stores.sql.ownerQuery<{ token_hash: Buffer }>('SELECT token_hash FROM org_invites WHERE id = $1', [inv.data.id]);
    expect(stored.rows[0]!.token_hash.toString('base64url')).not.toBe(inv.data.token);
    expect((await accept(b.accessToken, inv.data.token)).statusCode).toBe(200);
    const again = await accept(b.accessToken, inv.data.token);
    expect(again.statusCode).toBe(410);
    expect(again.data.error).toBe('gone');
    const listed = await call(t.app, { method: 'GET', url: `/auth/orgs/${org.id}/invites`, token: owner.accessToken });
    expect(listed.data.items[0].status).toBe('accepted');
  });

  it('an invite for b@ accepted while signed in as c@ is 403 and stays usable by b@', async () => {
    const { owner, org } = await setup();
    const b = await user(t);
    const c = await user(t);
    const inv = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    const wrong = await accept(c.accessToken, inv.data.token);
    expect(wrong.statusCode).toBe(403);
    expect(await storedRoles(t, org.id, c.userId)).toBeNull();
    expect((await accept(b.accessToken, inv.data.token)).statusCode).toBe(200);
  });

  it('an unverified address cannot accept (403), even when it is the invited one', async () => {
    const { owner, org } = await setup();
    const b = await register(t.app, { email: newEmail() });
    const inv = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    expect((await accept(b.accessToken, inv.data.token)).statusCode).toBe(403);
    await verifyEmail(t, b.userId);
    expect((await accept(b.accessToken, inv.data.token)).statusCode).toBe(200);
  });

  it('a deleted invite gives 404 and an expired one 410', async () => {
    const { owner, org } = await setup();
    const b = await user(t);
    const del = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    await call(t.app, { method: 'DELETE', url: `/auth/orgs/${org.id}/invites/${del.data.id}`, token: owner.accessToken });
    expect((await accept(b.accessToken, del.data.token)).statusCode).toBe(404);
    const exp = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    t.clock.advance(7 * 24 * 3600_000 + 1000);
    const fresh = await login(t.app, { email: b.email });
    const res = await accept(fresh.accessToken, exp.data.token);
    expect(res.statusCode).toBe(410);
    expect(res.data.message).toMatch(/expired/);
    expect(await storedRoles(t, org.id, b.userId)).toBeNull();
  });

  it('an invite of tenant T cannot be accepted from tenant T2 (404)', async () => {
    await t.deps.tenants.create({ slug: 'az04-t2', name: 'T2' });
    const { owner, org } = await setup();
    const email = newEmail();
    const inT2 = await register(t.app, { email, tenant: 'az04-t2' });
    await verifyEmail(t, inT2.userId);
    const inv = await invite(owner.accessToken, org.id, { email, roles: ['member'] });
    expect((await accept(inT2.accessToken, inv.data.token)).statusCode).toBe(404);
    expect(await rows(t, 'org_members', org.id)).toBe(1);
  });

  it('N parallel accepts of one token: exactly one wins', async () => {
    const { owner, org } = await setup();
    const b = await user(t);
    const inv = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    const results = await Promise.all(Array.from({ length: 8 }, () => accept(b.accessToken, inv.data.token)));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.every((c) => c === 200 || c === 410 || c === 409)).toBe(true);
    expect(await rows(t, 'org_members', org.id)).toBe(2);
  });

  it('an existing member cannot be invited (409), and a new invite replaces the open one', async () => {
    const { owner, org } = await setup();
    expect((await invite(owner.accessToken, org.id, { email: owner.email, roles: ['member'] })).statusCode).toBe(409);
    const b = await user(t);
    const first = await invite(owner.accessToken, org.id, { email: b.email, roles: ['member'] });
    const second = await invite(owner.accessToken, org.id, { email: b.email.toUpperCase(), roles: ['admin'] });
    expect(second.statusCode).toBe(200);
    expect((await accept(b.accessToken, first.data.token)).statusCode).toBe(404);
    expect((await accept(b.accessToken, second.data.token)).data.roles).toEqual(['admin']);
  });

  it('bad input is a 400 and creates nothing', async () => {
    const { owner, org } = await setup();
    const before = await rows(t, 'org_invites', org.id);
    for (const json of [
      { email: 'not-an-email', roles: ['member'] },
      { email: 'a@example.com', roles: [] },
      { email: 'a@example.com', roles: ['nosuchrole'] },
      { email: 'a@example.com', roles: ['member', 'MEMBER'] },
      { email: 'a@example.com' },
      { email: 'a@example.com', roles: ['member'], orgId: org.id },
      { email: 'victim@example.com\r\nBcc: eve@example.com', roles: ['member'] },
      { email: 'a@example.com', roles: ['member'], redirectUrl: 'https://evil.example/accept' },
    ]) {
      const res = await invite(owner.accessToken, org.id, json);
      expect(res.statusCode, JSON.stringify(json)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    for (const json of [{}, { token: '' }, { token: 5 }, { token: 'x'.repeat(600) }, { token: 'x', orgId: org.id }]) {
      expect((await call(t.app, { method: 'POST', url: '/auth/invites/accept', token: owner.accessToken, json })).statusCode, JSON.stringify(json)).toBe(400);
    }
    expect(await rows(t, 'org_invites', org.id)).toBe(before);
  });

  it('PWD-08: the mailed link starts with PUBLIC_URL whatever Host says, or with an allowed redirectUrl; the org name is escaped', async () => {
    const owner = await user(t, { prefix: 'owner' });
    const org = await createOrg(t.app, owner.accessToken, '<script>alert(1)</script> & Co');
    const a = newEmail();
    const b = newEmail();
    await invite(owner.accessToken, org.id, { email: a, roles: ['member'] }, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    await invite(owner.accessToken, org.id, { email: b, roles: ['member'], redirectUrl: APP_ACCEPT_PAGE });
    await t.deps.services.mailer.drain();
    const [ma] = mailsTo(t.config.dataDir, a);
    const [mb] = mailsTo(t.config.dataDir, b);
    const links = (m: { text: string; html?: string }) => [...`${m.text} ${m.html}`.matchAll(/https?:\/\/[^\s"<]+/g)].map((x) => x[0]);
    expect(links(ma!).length).toBeGreaterThan(0);
    for (const l of links(ma!)) expect(l.startsWith(`${TEST_PUBLIC_URL}/`)).toBe(true);
    for (const l of links(mb!)) expect(l.startsWith(`${APP_ACCEPT_PAGE}?token=`)).toBe(true);
    expect(ma!.html).not.toContain('<script>');
    expect(ma!.html).toContain('&lt;script&gt;');
    expect(JSON.stringify([ma, mb])).not.toContain('evil.example');
  });
});
