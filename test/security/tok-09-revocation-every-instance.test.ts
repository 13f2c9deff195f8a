import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { getUser, login, parts, raiseLimits, refresh, register } from '../helpers/identity.js';
import { kvKey } from '../../src/kv/kv.js';
import { SESSION_CHECK_TTL_MS } from '../../src/modules/sessions/check-cache.js';

// TOK-09: logout and revocation take effect at once, on every instance (A = t.app, B = t.second()).

let t: TestApp;
let b: FastifyInstance;
let email: string;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  b = (await t.second()).app;
  email = (await register(t.app)).email;
});
afterAll(async () => { await t?.close(); });

/** A fresh session on A whose token B has already verified (and cached). */
async function warmSession() {
  const s = await login(t.app, { email });
  expect((await getUser(b, s.accessToken)).statusCode).toBe(200);
  return s;
}

async function deadOnB(s: { accessToken: string; refreshToken: string }) {
  const me = await getUser(b, s.accessToken);
  expect(me.statusCode, me.body).toBe(401);
  const r = await refresh(b, s.refreshToken);
  expect(r.statusCode, r.body).toBe(401);
}

describe('TOK-09 revocation reaches every instance at once', () => {
  it('POST /auth/logout on A: the access and refresh tokens fail on B right after', async () => {
    const s = await warmSession();
    const out = await call(t.app, { method: 'POST', url: '/auth/logout', token: s.accessToken });
    expect(out.statusCode).toBe(200);
    await deadOnB(s);
  });

  it('DELETE /auth/sessions/{sid} on A: the ended session fails on B; the caller\'s other session lives', async () => {
    const victim = await warmSession();
    const other = await warmSession();
    const sid = parts(victim.accessToken).payload.sid;
    const del = await call(t.app, { method: 'DELETE', url: `/auth/sessions/${sid}`, token: other.accessToken });
    expect(del.statusCode, del.body).toBe(204);
    await deadOnB(victim);
    expect((await getUser(b, other.accessToken)).statusCode).toBe(200);
  });

  it('DELETE /auth/sessions on B ends every session of the user, seen on A', async () => {
    const s1 = await warmSession();
    const s2 = await warmSession();
    const all = await call(b, { method: 'DELETE', url: '/auth/sessions', token: s2.accessToken });
    expect(all.statusCode, all.body).toBe(200);
    expect(all.data.revoked).toBeGreaterThanOrEqual(2);
    for (const s of [s1, s2]) {
      expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
      expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
    }
  });

  it('a logged-out access token stays dead even though its signature is still valid and cached', async () => {
    const s = await warmSession();
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    await call(b, { method: 'POST', url: '/auth/logout', token: s.accessToken });
    for (let i = 0; i < 3; i++) {
      expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
      expect((await getUser(b, s.accessToken)).statusCode).toBe(401);
    }
  });

  it('the bearer check cache has a bound of its own: a session removed behind its back (no announcement) is refused once it passes', async () => {
    const s = await warmSession();
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    const { sid, tid, sub } = parts(s.accessToken).payload as { sid: string; tid: string; sub: string };
    // Straight in the store: nothing is announced, so only the bound can end the cached answers.
    expect(await t.deps.kv.del(kvKey(tid, 'sess', sub, sid))).toBe(1);
    t.clock.advance(SESSION_CHECK_TTL_MS + 1);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
    expect((await getUser(b, s.accessToken)).statusCode).toBe(401);
  });
});
