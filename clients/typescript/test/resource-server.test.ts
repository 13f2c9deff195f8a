import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { createAuthplaneClient, AuthplaneError } from '../src/index.js';
import { authOf, authplaneExpress, authplaneFastify, createResourceServer, verifyAccessToken, type ResourceServerOptions } from '../src/server/index.js';
import { newEmail, PASSWORD, startServer, type LiveServer } from './server.js';

// The resource-server helpers against the real server: JWKS, revocation, API keys, authorize, Fastify, Express.
let s: LiveServer;
let otherTenantId: string;
beforeAll(async () => {
  s = await startServer();
  otherTenantId = (await s.t.deps.tenants.create({ slug: 'rs-t2', name: 'T2', settings: { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } } })).id;
});
afterAll(async () => { await s?.close(); });

const now = () => s.t.clock.nowMs();
const opts = (o: Partial<ResourceServerOptions> = {}): ResourceServerOptions =>
  ({ baseUrl: s.baseUrl, issuer: s.issuer, audience: s.defaultTenantId, fetch: s.fetch, now, ...o });
const signedIn = async (tenant?: string) => {
  const c = createAuthplaneClient({ baseUrl: s.baseUrl, tenant, now });
  const r = await c.register({ email: newEmail('rs'), password: PASSWORD });
  return { c, r, token: r.tokens.accessToken };
};

describe('verifyAccessToken', () => {
  it('verifies a token; a server key rotation refetches the JWKS on the unknown kid, old tokens keep working', async () => {
    const rs = createResourceServer(opts());
    const { token: before } = await signedIn();
    expect((await rs.verifyAccessToken(before)).sub).toBe(decodeJwt(before).sub);
    const fetched = s.count('GET /.well-known/jwks.json');
    await rs.verifyAccessToken(before);
    expect(s.count('GET /.well-known/jwks.json')).toBe(fetched); // cached

    const newKid = await s.t.deps.services.rotateSigningKey();
    const { token: after } = await signedIn();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    // Immediately after the rotation, no refusal in between: the unknown kid triggers one refetch.
    const [a, b] = await Promise.all([rs.verifyAccessToken(after), rs.verifyAccessToken(before)]);
    expect(a.sub).toBe(decodeJwt(after).sub);
    expect(b.sub).toBe(decodeJwt(before).sub);
    expect(s.count('GET /.well-known/jwks.json')).toBe(fetched + 1);
    // The standalone function (shared cache per option set) agrees.
    expect((await verifyAccessToken(after, { baseUrl: s.baseUrl, issuer: s.issuer, audience: s.defaultTenantId, now })).sub).toBe(a.sub);
  });

  it('refuses expired, forged, wrong-audience and malformed tokens with typed 401s', async () => {
    const rs = createResourceServer(opts());
    const { token } = await signedIn();
    const later = createResourceServer(opts({ now: () => now() + 16 * 60_000 }));
    expect((await later.verifyAccessToken(token).catch((e) => e)).code).toBe('token_expired');
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT(decodeJwt(token)).setProtectedHeader({ ...decodeProtectedHeader(token), alg: 'EdDSA' }).sign(privateKey);
    expect((await rs.verifyAccessToken(forged).catch((e) => e)).code).toBe('invalid_token');
    const { token: other } = await signedIn('rs-t2');
    expect((await rs.verifyAccessToken(other).catch((e) => e)).code).toBe('invalid_token');
    expect((await rs.verifyAccessToken('not-a-jwt').catch((e) => e)).code).toBe('invalid_token');
  });

  it('checkRevocation: a revoked session is refused; the server is asked at most once per token per interval', async () => {
    const rs = createResourceServer(opts({ checkRevocation: { intervalSeconds: 30 } }));
    const plain = createResourceServer(opts());
    const { c, token } = await signedIn();
    const asked = s.count('GET /auth/user');
    await Promise.all([rs.verifyAccessToken(token), rs.verifyAccessToken(token), rs.verifyAccessToken(token)]);
    await rs.verifyAccessToken(token);
    expect(s.count('GET /auth/user') - asked).toBe(1);

    await c.logout();
    expect((await plain.verifyAccessToken(token)).sub).toBeTruthy(); // signature alone cannot know
    // Within the interval the cached answer stands; after it, the server's answer refuses the token.
    expect((await rs.verifyAccessToken(token)).sub).toBeTruthy();
    s.t.clock.advance(30_001);
    const e = await rs.verifyAccessToken(token).catch((x) => x);
    expect(e).toBeInstanceOf(AuthplaneError);
    expect(e.code).toBe('invalid_token');
    expect(s.count('GET /auth/user') - asked).toBe(2);
    // A fresh verifier asks at once.
    expect((await createResourceServer(opts({ checkRevocation: { intervalSeconds: 30 } })).verifyAccessToken(token).catch((x) => x)).code).toBe('invalid_token');
  });
});

describe('validateApiKey and authorize', () => {
  it('caches a valid key for at most 5 s (clamped), then sees the revocation', async () => {
    let t0 = 0;
    const rs = createResourceServer(opts({ now: () => t0, apiKeyCacheSeconds: 60 }));
    const { c } = await signedIn();
    const key = await c.apiKeys.create({ name: 'svc', scopes: ['read'] });
    expect((await rs.validateApiKey(key.apiKey)).valid).toBe(true);
    const asked = s.count('POST /auth/api-key/validate');
    await c.apiKeys.delete(key.id);
    t0 = 4_999;
    expect((await rs.validateApiKey(key.apiKey)).valid).toBe(true); // the bounded cache
    expect(s.count('POST /auth/api-key/validate')).toBe(asked);
    t0 = 5_000;
    expect((await rs.validateApiKey(key.apiKey)).valid).toBe(false);
    expect(s.count('POST /auth/api-key/validate')).toBe(asked + 1);
    expect((await rs.validateApiKey('ck_unknownunknownunknown')).valid).toBe(false);
  });

  it('authorize asks with the service key on a user\'s behalf', async () => {
    const owner = await signedIn();
    const org = await owner.c.orgs.create({ name: 'Svc org' });
    await owner.c.orgs.switch(org.id);
    const svcKey = await owner.c.apiKeys.create({ name: 'rs', scopes: ['authz:check'], orgId: org.id });
    const member = await signedIn();
    // set-up shortcut: accepting an invite needs a verified address (the mail flow is tested elsewhere)
    await s.t.stores.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [member.r.user.id]);
    const invite = await owner.c.orgs.invites.create(org.id, { email: member.r.user.email!, roles: ['member'] });
    await member.c.orgs.invites.accept(invite.token);
    const stranger = await signedIn();
    const rs = createResourceServer(opts({ apiKey: svcKey.apiKey }));
    const yes = await rs.authorize({ action: 'org:read', orgId: org.id, subjectId: member.r.user.id });
    expect(yes.allowed, yes.reason).toBe(true);
    const notMine = await rs.authorize({ action: 'org:delete', orgId: org.id, subjectId: member.r.user.id });
    expect(notMine.allowed).toBe(false);
    const no = await rs.authorize({ action: 'org:read', orgId: org.id, subjectId: stranger.r.user.id });
    expect(no.allowed).toBe(false);
    expect(no.reason).toBeTruthy();
  });
});

describe('Fastify plugin and Express middleware', () => {
  let app: FastifyInstance;
  let later = 0;
  beforeAll(async () => {
    const server = createResourceServer(opts({ now: () => now() + later, checkRevocation: { intervalSeconds: 5 } }));
    app = Fastify();
    app.get('/public', async () => ({ ok: true }));
    await app.register(async (scope) => {
      await scope.register(authplaneFastify, { server });
      scope.get('/me', async (req) => ({ auth: authOf(req) }));
    });
    await app.ready();
  });
  afterAll(async () => { await app?.close(); });
  const get = (token?: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: '/me', headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  it('missing, expired, forged, other-tenant and revoked tokens → 401; a valid one reaches the handler', async () => {
    const { c, token, r } = await signedIn();
    const ok = await get(token);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().auth).toMatchObject({ type: 'user', userId: r.user.id, tenantId: s.defaultTenantId });
    expect((await app.inject({ url: '/public' })).statusCode).toBe(200);

    const missing = await get();
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error).toBe('unauthorized');
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);

    later = 16 * 60_000;
    expect((await get(token)).json()).toMatchObject({ error: 'token_expired' });
    later = 0;

    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT(decodeJwt(token)).setProtectedHeader({ ...decodeProtectedHeader(token), alg: 'EdDSA' }).sign(privateKey);
    expect((await get(forged)).statusCode).toBe(401);
    const [h, p] = token.split('.');
    expect((await get(`${h}.${p}.`)).statusCode).toBe(401);

    const { token: other } = await signedIn('rs-t2');
    expect((await get(other)).statusCode).toBe(401);

    const { c: victim, token: revoked } = await signedIn();
    expect((await get(revoked)).statusCode).toBe(200);
    await victim.logout();
    s.t.clock.advance(5_001);
    const gone = await get(revoked);
    expect(gone.statusCode).toBe(401);
    expect(gone.json().error).toBe('invalid_token');

    // API keys pass through the same guard; both credentials at once are refused.
    const key = await c.apiKeys.create({ name: 'k', scopes: ['read'] });
    const viaKey = await get(undefined, { 'x-api-key': key.apiKey });
    expect(viaKey.statusCode, viaKey.body).toBe(200);
    expect(viaKey.json().auth).toMatchObject({ type: 'apiKey', userId: r.user.id });
    expect((await get(token, { 'x-api-key': key.apiKey })).statusCode).toBe(400);
  });

  it('Express/Connect middleware sets req.auth or answers 401', async () => {
    const mw = authplaneExpress({ server: createResourceServer(opts()) });
    const srv = http.createServer((req, res) => mw(req, res, (err) => {
      res.statusCode = err ? 500 : 200;
      res.end(JSON.stringify((req as { auth?: unknown }).auth ?? null));
    }));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    try {
      const { token, r } = await signedIn();
      const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect((await ok.json()).userId).toBe(r.user.id);
      const no = await fetch(url);
      expect(no.status).toBe(401);
      expect((await no.json()).error).toBe('unauthorized');
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
