import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { getUser, login, parts, raiseLimits, refresh, register } from '../helpers/identity.js';

// TOK-10: rotation on every use, reuse detection revokes the family, concurrent use (§D-11 policy,
// docs/decisions.md "Concurrent refresh"): exactly one of N parallel refreshes wins;
// - grace 0 (default): the losers are reuse, so the family — the winner's new tokens included — is revoked;
// - grace > 0: the losers get 401 refresh_token_rotated and the winner's tokens live on.

let t: TestApp;
let email: string;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  email = (await register(t.app)).email;
  await t.deps.tenants.create({ slug: 'grace', name: 'Grace', settings: { refreshReuseGraceSeconds: 10 } });
  await raiseLimits(t, 'grace');
  await register(t.app, { email, tenant: 'grace' });
});
afterAll(async () => { await t?.close(); });

async function auditRows(action: string, target: string) {
  const { rows } = await t.stores.sql.ownerQuery<{ actor_type: string; actor_id: string; ip: string | null; request_id: string | null; outcome: string }>(
    'SELECT actor_type, actor_id, ip, request_id, outcome FROM audit_events WHERE action = $1 AND target = $2', [action, target]);
  return rows;
}

async function race(refreshToken: string, n: number, tenant?: string) {
  const headers: Record<string, string> = tenant ? { 'x-tenant-id': tenant } : {};
  const results = await Promise.all(Array.from({ length: n }, () => refresh(t.app, refreshToken, headers)));
  const ok = results.filter((r) => r.statusCode === 200);
  const refusedRes = results.filter((r) => r.statusCode !== 200);
  return { ok, refused: refusedRes };
}

describe('TOK-10 rotation and reuse detection', () => {
  it('rotates on every use; replaying the old token revokes the whole family and is audited with user, IP and request id', async () => {
    const s = await login(t.app, { email });
    const r1 = await refresh(t.app, s.refreshToken);
    expect(r1.statusCode, r1.body).toBe(200);
    const rt2 = r1.data.tokens.refreshToken as string;
    const at2 = r1.data.tokens.accessToken as string;
    expect(rt2).not.toBe(s.refreshToken);
    expect(at2).not.toBe(s.accessToken);
    expect(parts(at2).payload.sid).toBe(parts(s.accessToken).payload.sid);
    expect(r1.data.user.email).toBe(email);
    expect((await getUser(t.app, at2)).statusCode).toBe(200);

    const replay = await refresh(t.app, s.refreshToken, { 'x-request-id': 'reuse-probe-1' });
    expect(replay.statusCode).toBe(401);
    expect(replay.data.error).toBe('invalid_token');

    expect((await refresh(t.app, rt2)).statusCode).toBe(401);
    expect((await getUser(t.app, at2)).statusCode).toBe(401);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);

    const rows = await auditRows('session.refresh_reuse', parts(s.accessToken).payload.sid);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_type: 'user', actor_id: s.userId, outcome: 'denied', request_id: 'reuse-probe-1' });
    expect(rows[0]!.ip).toBeTruthy();
  });

  it('grace 0: of 10 parallel refreshes exactly one gets 200; the losers are reuse and the winner\'s tokens die with the family', async () => {
    const s = await login(t.app, { email });
    const { ok, refused } = await race(s.refreshToken, 10);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(9);
    for (const r of refused) expect(r.statusCode).toBe(401);
    expect(refused.every((r) => r.data.error === 'invalid_token')).toBe(true);
    const winner = ok[0]!.data.tokens;
    expect((await refresh(t.app, winner.refreshToken)).statusCode).toBe(401);
    expect((await getUser(t.app, winner.accessToken)).statusCode).toBe(401);
    expect(await auditRows('session.refresh_reuse', parts(s.accessToken).payload.sid)).toHaveLength(1);
  });

  it('grace 10 s: of 10 parallel refreshes exactly one gets 200, the losers get refresh_token_rotated and nothing is revoked', async () => {
    const s = await login(t.app, { email, tenant: 'grace' });
    const { ok, refused } = await race(s.refreshToken, 10, 'grace');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(9);
    for (const r of refused) {
      expect(r.statusCode).toBe(401);
      expect(r.data.error).toBe('refresh_token_rotated');
    }
    const winner = ok[0]!.data.tokens;
    expect((await getUser(t.app, winner.accessToken)).statusCode).toBe(200);
    const next = await refresh(t.app, winner.refreshToken, { 'x-tenant-id': 'grace' });
    expect(next.statusCode, next.body).toBe(200);
    expect(await auditRows('session.refresh_reuse', parts(s.accessToken).payload.sid)).toHaveLength(0);
  });

  it('grace 10 s: a token two rotations old is reuse even within the grace', async () => {
    const s = await login(t.app, { email, tenant: 'grace' });
    const r1 = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 'grace' });
    const r2 = await refresh(t.app, r1.data.tokens.refreshToken, { 'x-tenant-id': 'grace' });
    expect(r2.statusCode).toBe(200);
    const replay = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 'grace' });
    expect(replay.statusCode).toBe(401);
    expect(replay.data.error).toBe('invalid_token');
    expect((await refresh(t.app, r2.data.tokens.refreshToken, { 'x-tenant-id': 'grace' })).statusCode).toBe(401);
  });

  it('grace 10 s: after the grace has passed, the parent is reuse and revokes the family', async () => {
    const s = await login(t.app, { email, tenant: 'grace' });
    const r1 = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 'grace' });
    expect(r1.statusCode).toBe(200);
    const within = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 'grace' });
    expect(within.data.error).toBe('refresh_token_rotated');
    t.clock.advance(11_000);
    const late = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 'grace' });
    expect(late.statusCode).toBe(401);
    expect(late.data.error).toBe('invalid_token');
    expect((await refresh(t.app, r1.data.tokens.refreshToken, { 'x-tenant-id': 'grace' })).statusCode).toBe(401);
    expect((await getUser(t.app, r1.data.tokens.accessToken)).statusCode).toBe(401);
  });

  it('the family revocation reaches the other instance at once', async () => {
    const b = (await t.second()).app;
    const s = await login(t.app, { email });
    const r1 = await refresh(b, s.refreshToken);
    expect(r1.statusCode).toBe(200);
    expect((await getUser(b, r1.data.tokens.accessToken)).statusCode).toBe(200);
    expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
    expect((await getUser(b, r1.data.tokens.accessToken)).statusCode).toBe(401);
    expect((await call(b, { method: 'GET', url: '/auth/sessions', token: r1.data.tokens.accessToken })).statusCode).toBe(401);
  });
});
