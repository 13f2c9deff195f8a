import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { count, getUser, login, ownerSql, raiseLimits, refresh, register } from '../helpers/identity.js';

// TOK-11: forged or misplaced refresh tokens fail harmlessly; refresh has an absolute end.
// Plus: a disabled user cannot refresh.

let t: TestApp;
let email: string;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  email = (await register(t.app)).email;
  await t.deps.tenants.create({ slug: 't2', name: 'T2' });
  await t.deps.tenants.create({ slug: 'short', name: 'Short', settings: { refreshTokenTtlSeconds: 20 } });
  await raiseLimits(t, 't2');
  await raiseLimits(t, 'short');
});
afterAll(async () => { await t?.close(); });

const revokedRows = async () => {
  const { rows } = await t.stores.sql.ownerQuery<{ n: string }>('SELECT count(*)::text AS n FROM refresh_tokens WHERE revoked_at IS NOT NULL');
  return Number(rows[0]!.n);
};

describe('TOK-11 forged and misplaced refresh tokens', () => {
  it('a known id with a forged secret is refused and revokes nothing: the real token still works', async () => {
    const s = await login(t.app, { email });
    const id = s.refreshToken.split('.')[0]!;
    const before = await revokedRows();
    for (const secret of [randomBytes(32).toString('base64url'), 'A'.repeat(43), s.refreshToken.split('.')[1]!.slice(0, -1) + 'x']) {
      const forged = await refresh(t.app, `${id}.${secret}`);
      expect(forged.statusCode).toBe(401);
      expect(forged.data.error).toBe('invalid_token');
    }
    expect(await revokedRows()).toBe(before);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    const real = await refresh(t.app, s.refreshToken);
    expect(real.statusCode, real.body).toBe(200);
  });

  it('malformed refresh tokens get 401 without touching anything', async () => {
    const rows = await count(t, 'refresh_tokens');
    for (const bad of ['x', 'no-dot-here', `${randomUUID()}.`, `not-a-uuid.${'a'.repeat(43)}`, `${randomUUID()}.short`, `${randomUUID()}.${'a'.repeat(42)}!`, `${randomUUID()}.${'a'.repeat(43)}.extra`]) {
      const res = await refresh(t.app, bad);
      expect(res.statusCode, bad).toBe(401);
    }
    expect(await count(t, 'refresh_tokens')).toBe(rows);
  });

  it('a refresh token is not a bearer credential', async () => {
    const s = await login(t.app, { email });
    const res = await getUser(t.app, s.refreshToken);
    expect(res.statusCode).toBe(401);
  });

  it('a refresh token presented to another tenant is refused and revokes nothing', async () => {
    const s = await login(t.app, { email });
    const res = await refresh(t.app, s.refreshToken, { 'x-tenant-id': 't2' });
    expect(res.statusCode).toBe(401);
    expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(200);
  });

  it('the secret part carries at least 128 bits (≥ 22 base64url characters); the id is a uuid', async () => {
    const s = await login(t.app, { email });
    const [id, secret] = s.refreshToken.split('.');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(secret!.length).toBeGreaterThanOrEqual(43);
    // only the SHA-256 of the secret is at rest
    const { rows } = await t.stores.sql.ownerQuery<{ token_hash: Buffer }>('SELECT token_hash FROM refresh_tokens WHERE id = $1', [id]);
    expect(Buffer.from(rows[0]!.token_hash).length).toBe(32);
    expect(Buffer.from(rows[0]!.token_hash).toString('utf8')).not.toContain(secret);
  });

  it('refreshTokenTtlSeconds=20: refreshing every 5 s from sign-in fails from 20 s on (rotation never extends the session)', async () => {
    const s = await register(t.app, { tenant: 'short' });
    let rt = s.refreshToken;
    const outcomes: number[] = [];
    for (let elapsed = 5; elapsed <= 40; elapsed += 5) {
      t.clock.advance(5_000);
      const res = await refresh(t.app, rt, { 'x-tenant-id': 'short' });
      outcomes.push(res.statusCode);
      if (res.statusCode === 200) {
        rt = res.data.tokens.refreshToken;
        const cookie = ([] as string[]).concat(res.headers['set-cookie'] as string[]).find((c) => c.startsWith('__Secure-ap_refresh='))!;
        // the cookie's life is what is left of the session, never a fresh 20 s
        expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).toBeLessThanOrEqual(20 - elapsed);
      }
    }
    expect(outcomes).toEqual([200, 200, 200, 401, 401, 401, 401, 401]);
  });

  it('a disabled user cannot refresh, and the refused refresh ends the session', async () => {
    const s = await register(t.app);
    await ownerSql(t, 'UPDATE users SET disabled = true WHERE id = $1', [s.userId]);
    const res = await refresh(t.app, s.refreshToken);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
    await ownerSql(t, 'UPDATE users SET disabled = false WHERE id = $1', [s.userId]);
    expect((await refresh(t.app, s.refreshToken)).statusCode).toBe(401);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(401);
  });
});
