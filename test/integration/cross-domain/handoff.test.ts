import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../helpers/app.js';
import { createDeps, type Deps } from '../../../src/deps.js';
import { buildApp } from '../../../src/server.js';
import { UnavailableError } from '../../../src/http/errors.js';
import type { Sql } from '../../../src/db/sql.js';

/**
 * Cross-domain handoff (DESIGN §4, SECURITY XD-01..04, TOK-06): a signed-in user gets a 60-second,
 * single-use JWT for one of the tenant's allowed origins; the origin's backend verifies it once.
 */
const ALLOWED = 'https://allowed.example';
const OTHER_ALLOWED = 'https://other.example';
const RAISED = { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } };
const PASSWORD = 'correct horse battery staple';

let t: TestApp;
let defaultId: string;
let t2Id: string;
beforeAll(async () => {
  t = await createTestApp();
  defaultId = (await t.deps.tenants.defaultTenant()).id;
  await t.deps.tenants.update(defaultId, { settings: { ...RAISED, allowedOrigins: [ALLOWED, OTHER_ALLOWED] } });
  // T2 lists the same origin: only the token's tenant binding keeps T's tokens out of T2.
  t2Id = (await t.deps.tenants.create({ slug: 'xd-t2', name: 'T2', settings: { ...RAISED, allowedOrigins: [ALLOWED] } })).id;
});
afterAll(async () => { await t?.close(); });

let n = 0;
async function signUp(app: FastifyInstance = t.app, headers: Record<string, string> = {}) {
  const res = await call(app, { method: 'POST', url: '/auth/register', json: { email: `xd${++n}-${Date.now()}@example.com`, password: PASSWORD }, headers });
  expect(res.statusCode, res.body).toBe(200);
  return { userId: res.data.user.id as string, accessToken: res.data.tokens.accessToken as string };
}

const issue = (accessToken: string, audience: unknown, app: FastifyInstance = t.app) =>
  call(app, { method: 'POST', url: '/auth/token/issue', token: accessToken, json: { audience } });
const verify = (token: string, audience = ALLOWED, app: FastifyInstance = t.app, headers: Record<string, string> = {}) =>
  call(app, { method: 'POST', url: '/auth/token/verify', json: { token, audience }, headers });
const nonces = async () => (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM cross_site_nonces')).rows[0]!.n;
const audit = async (action: string, tenantId = defaultId) => (await t.deps.audit.list({ tenantId, action, limit: 200 })).items;

async function handoff(audience = ALLOWED) {
  const u = await signUp();
  const res = await issue(u.accessToken, audience);
  expect(res.statusCode, res.body).toBe(200);
  return { ...u, token: res.data.token as string };
}

describe('XD-01 the audience must be exactly one of the tenant\'s allowed origins', () => {
  it('refuses look-alikes with 400 and issues {token, expiresIn: 60} for an exact origin', async () => {
    const u = await signUp();
    for (const bad of ['https://evil.example', 'https://allowed.example.evil.com', 'http://allowed.example', 'https://allowed.example/path', '*', 'https://allowed.example/', 'HTTPS://ALLOWED.EXAMPLE']) {
      const res = await issue(u.accessToken, bad);
      expect(res.statusCode, bad).toBe(400);
      expect(res.data).toMatchObject({ error: 'validation_failed', details: [{ path: 'body.audience' }] });
    }
    const ok = await issue(u.accessToken, ALLOWED);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.data).toEqual({ token: expect.any(String), expiresIn: 60 });
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(ok.headers['content-type']).toBe('application/json; charset=utf-8');
    expect((await audit('cross_domain.issue')).some((e) => e.outcome === 'denied' && e.actor_id === u.userId)).toBe(true);
  });

  it('the token is a JWT typed xd+jwt with aud, sub, tid, sid, jti and a 60-second life', async () => {
    const { token, userId } = await handoff();
    const header = decodeProtectedHeader(token);
    expect(header.typ).toBe('xd+jwt');
    expect(header.kid).toEqual(expect.any(String));
    const c = decodeJwt(token);
    expect(c).toMatchObject({ iss: TEST_PUBLIC_URL, aud: ALLOWED, sub: userId, tid: defaultId });
    expect(c.exp! - c.iat!).toBe(60);
    expect(c.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.sid).toEqual(expect.any(String));
  });

  it('needs an interactive session: 401 without a credential, 403 with an API key', async () => {
    const none = await call(t.app, { method: 'POST', url: '/auth/token/issue', json: { audience: ALLOWED } });
    expect(none.statusCode).toBe(401);
    const key = await call(t.app, { method: 'POST', url: '/auth/token/issue', json: { audience: ALLOWED }, headers: { 'x-api-key': `ck_${'a'.repeat(43)}` } });
    expect(key.statusCode).toBe(403);
  });
});

describe('verification', () => {
  it('answers the identity once, then 401 token_replayed (audited)', async () => {
    const { token, userId } = await handoff();
    const first = await verify(token);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.data).toMatchObject({ valid: true, userId, tenantId: defaultId, claims: { aud: ALLOWED, sub: userId, tid: defaultId } });
    expect(first.headers['cache-control']).toBe('no-store');
    const again = await verify(token);
    expect(again.statusCode).toBe(401);
    expect(again.data.error).toBe('token_replayed');
    const jti = decodeJwt(token).jti;
    const events = (await audit('cross_domain.verify')).filter((e) => e.target === jti);
    expect(events.map((e) => e.outcome).sort()).toEqual(['denied', 'success']);
    expect(events.find((e) => e.outcome === 'denied')!.metadata).toMatchObject({ reason: 'replayed' });
  });

  it('XD-03: twenty parallel verifies over two instances — exactly one succeeds, the rest are token_replayed', async () => {
    const second = await t.second();
    const { token } = await handoff();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => verify(token, ALLOWED, i % 2 ? second.app : t.app)));
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(401);
      expect(r.data.error).toBe('token_replayed');
    }
  });

  it('XD-03: the used JTI lives in Postgres, so a replay on another (restarted) instance is refused', async () => {
    const { token } = await handoff();
    expect((await verify(token)).statusCode).toBe(200);
    const fresh = await t.second();
    const replay = await verify(token, ALLOWED, fresh.app);
    expect(replay.statusCode).toBe(401);
    expect(replay.data.error).toBe('token_replayed');
  });
});

describe('XD-02 audience, time, integrity and tenant are checked, and a failed check consumes nothing', () => {
  it('a wrong audience is 401 and the token still works for its own audience', async () => {
    const { token } = await handoff();
    const before = await nonces();
    for (const aud of [OTHER_ALLOWED, 'https://evil.example']) {
      const res = await verify(token, aud);
      expect(res.statusCode, aud).toBe(401);
      expect(res.data.error).toBe('invalid_token');
    }
    expect(await nonces()).toBe(before);
    expect((await verify(token)).statusCode).toBe(200);
  });

  it('a token past 60 s plus the leeway is 401 token_expired; within them it still works', async () => {
    const a = await handoff();
    const b = await handoff();
    t.clock.advance(80_000); // 60 s + 20 s, inside the 30 s leeway
    expect((await verify(a.token)).statusCode).toBe(200);
    t.clock.advance(11_000); // 91 s: past 60 + 30
    const res = await verify(b.token);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('token_expired');
    const event = (await audit('cross_domain.verify')).find((e) => e.request_id === res.headers['x-request-id']);
    expect(event).toMatchObject({ outcome: 'denied', metadata: { reason: 'expired' } });
  });

  it('a tampered payload or signature is 401', async () => {
    const { token, userId } = await handoff();
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}.${s}`;
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of [forged, flipped, `${h}.${p}.`, 'not-a-jwt']) {
      const res = await verify(bad);
      expect(res.statusCode, bad).toBe(401);
      expect(res.data.error).toBe('invalid_token');
    }
    const ok = await verify(token);
    expect(ok.data.userId).toBe(userId);
  });

  it('a token of T is 401 at T2 (same origin listed there) and is not used up', async () => {
    const { token } = await handoff();
    const res = await verify(token, ALLOWED, t.app, { 'x-tenant-id': 'xd-t2' });
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
    expect((await audit('cross_domain.verify', t2Id)).some((e) => (e.metadata as { reason?: string }).reason === 'tenant_mismatch')).toBe(true);
    expect((await verify(token)).statusCode).toBe(200);
    // Row-level security: T2 sees none of T's used JTIs.
    const seen = await t.deps.sql.tx(t2Id, (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM cross_site_nonces'));
    expect(seen.rows[0]!.n).toBe(0);
    expect(await nonces()).toBeGreaterThan(0);
  });

  it('Postgres down during verify is a 503, never valid:true, and the token stays unused', async () => {
    let down = false;
    let refused = 0;
    const real = t.stores.sql;
    const flaky: Sql = {
      ...real,
      tx: (scope, fn) => (down ? (refused++, Promise.reject(new UnavailableError('postgres'))) : real.tx(scope, fn)),
    };
    const deps: Deps = await createDeps(t.config, { sql: flaky, kv: t.stores.kv, clock: t.clock, log: pino({ level: 'silent' }) });
    const app = await buildApp(t.config, { deps });
    try {
      const { token } = await handoff();
      // Warm the tenant cache so that the outage hits the verification itself, not tenant resolution.
      expect((await verify('x.y.z', ALLOWED, app)).statusCode).toBe(401);
      down = true;
      const res = await verify(token, ALLOWED, app);
      expect(refused, 'the request reached the database step').toBeGreaterThan(0);
      expect(res.statusCode).toBe(503);
      expect(res.data.error).toBe('unavailable');
      expect(res.body).not.toContain('valid');
      down = false;
      expect((await verify(token)).statusCode).toBe(200);
    } finally {
      await app.close();
      await deps.close();
    }
  });
});

describe('XD-04 / TOK-06 a handoff token is never accepted as another kind', () => {
  it('the handoff token as Bearer is 401 on /auth/user and on other routes', async () => {
    const { token } = await handoff();
    const res = await call(t.app, { method: 'GET', url: '/auth/user', token });
    expect(res.statusCode).toBe(401);
    const issueWithIt = await issue(token, ALLOWED);
    expect(issueWithIt.statusCode).toBe(401);
  });

  it('an access token at /token/verify is 401 (wrong typ), also when its own aud is sent as the audience', async () => {
    const u = await signUp();
    const res = await verify(u.accessToken, ALLOWED);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
    const asOwnAud = await verify(u.accessToken, decodeJwt(u.accessToken).aud as string);
    expect(asOwnAud.statusCode).toBe(401);
  });

  it('a handoff token from a session that has since ended is refused', async () => {
    const { token, accessToken } = await handoff();
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: accessToken })).statusCode).toBe(200);
    const res = await verify(token);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
  });
});

describe('bad input', () => {
  it('every malformed body is 400 validation_failed and nothing is recorded', async () => {
    const u = await signUp();
    const before = await nonces();
    const issues: unknown[] = [undefined, {}, { audience: 42 }, { audience: [ALLOWED] }, { audience: '' }, { audience: 'x'.repeat(5000) }, { audience: ALLOWED, extra: 1 }, 'text', [ALLOWED]];
    for (const body of issues) {
      const res = await call(t.app, { method: 'POST', url: '/auth/token/issue', token: u.accessToken, json: body ?? {} });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    const verifies: unknown[] = [{}, { token: 'x' }, { audience: ALLOWED }, { token: 1, audience: ALLOWED }, { token: 'x'.repeat(5000), audience: ALLOWED }, { token: 'a.b.c', audience: ALLOWED, tenantId: defaultId }, { token: 'a.b.c', audience: null }];
    for (const body of verifies) {
      const res = await call(t.app, { method: 'POST', url: '/auth/token/verify', json: body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.data.error).toBe('validation_failed');
      expect(res.data.message).toMatch(/Invalid request/);
    }
    expect(await nonces()).toBe(before);
  });
});

describe('discovery and OpenAPI', () => {
  it('GET /auth/discovery lists the email, magic-link and cross-domain methods with their endpoints and how to send the token', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/discovery' });
    expect(res.statusCode).toBe(200);
    const c = res.data.capabilities;
    expect(c.magicLink).toMatchObject({ request: { method: 'POST', path: '/auth/instant-link' }, verify: { method: 'POST', path: '/auth/instant-link/verify', body: { token: expect.any(String) } } });
    expect(c.crossDomain).toMatchObject({ issue: { path: '/auth/token/issue' }, verify: { path: '/auth/token/verify', body: { token: expect.any(String), audience: expect.any(String) } } });
    expect(c.passwordReset).toMatchObject({ forgot: { path: '/auth/password/forgot' }, reset: { path: '/auth/password/reset' } });
    expect(c.emailVerification).toMatchObject({ request: { path: '/auth/email/verify/request' }, verify: { path: '/auth/email/verify' } });
    expect(c.passwordChange).toMatchObject({ change: { path: '/auth/password/change' } });
  });

  it('the OpenAPI document describes every new route with request and response schemas', async () => {
    const doc = (await call(t.app, { method: 'GET', url: '/auth/openapi.json' })).data;
    const routes: [string, string, number][] = [
      ['/auth/email/verify/request', 'requestEmailVerification', 202], ['/auth/email/verify', 'verifyEmail', 200],
      ['/auth/password/forgot', 'forgotPassword', 202], ['/auth/password/reset', 'resetPassword', 200], ['/auth/password/change', 'changePassword', 200],
      ['/auth/instant-link', 'requestInstantLink', 200], ['/auth/instant-link/verify', 'verifyInstantLink', 200],
      ['/auth/token/issue', 'issueHandoffToken', 200], ['/auth/token/verify', 'verifyHandoffToken', 200],
    ];
    for (const [path, operationId, ok] of routes) {
      const op = doc.paths[path]?.post;
      expect(op?.operationId, path).toBe(operationId);
      expect(op.requestBody?.content?.['application/json']?.schema, path).toBeDefined();
      expect(op.responses[String(ok)]?.content?.['application/json']?.schema, path).toBeDefined();
      expect(op.responses['400'], path).toBeDefined();
    }
  });
});
