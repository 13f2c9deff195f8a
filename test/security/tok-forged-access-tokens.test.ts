import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { accessPayload, activeKey, b64json, forge, getUser, newEmail, parts, raiseLimits, register, type SignedIn } from '../helpers/identity.js';

// TOK-01..TOK-07 against the default EdDSA deployment. ⚿ checks sign with the key obtained through
// t.deps.services.signingKeys.signer(), i.e. the key a test deployment's operator knows.

let t: TestApp;
let u1: SignedIn;
let u2: SignedIn;
let t2Id: string;
let v1: SignedIn;
let listener: Server;
let listenerHits = 0;
let listenerUrl = '';

// A self-signed Ed25519 certificate and its key (attacker material for the x5c case).
const ATTACKER_CERT_DER_B64 = 'MIIBSjCB/aADAgECAhQaz3IiXymoZiWwzpqawTxyplFNJDAFBgMrZXAwGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTAeFw0yNjExMjMyMTQ1MTFaFw0zNjExMjAyMTQ1MTFaMBsxGTAXBgNVBAMMEGF0dGFja2VyLmV4YW1wbGUwKjAFBgMrZXADIQCYVx0juwAx6OMWD4wFJUUHLFbbOf+HA33nmOhWg/S4bqNTMFEwHQYDVR0OBBYEFJfF3UtGdCde+ubzYvBrgtgg7+CfMB8GA1UdIwQYMBaAFJfF3UtGdCde+ubzYvBrgtgg7+CfMA8GA1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EA8/wegsOJrXMq3A682Em/xWSSB6cd/KDYmv0FrqP2xsTxamgtekBoVvKS6p5gekbkYr+6UJsXecE2cXB/bHJSCw==';
const ATTACKER_CERT_KEY = createPrivateKey('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAXagqrknC2QLK9YREBYQaFau3DCmZd4IlTyNeWSGjma\n-----END PRIVATE KEY-----\n');

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  u1 = await register(t.app);
  u2 = await register(t.app);
  const t2 = await t.deps.tenants.create({ slug: 'tok-t2', name: 'T2' });
  t2Id = t2.id;
  await raiseLimits(t, 'tok-t2');
  v1 = await register(t.app, { tenant: 'tok-t2' });
  listener = createServer((_req, res) => { listenerHits++; res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});
afterAll(async () => {
  listener?.close();
  await t?.close();
});

/** Sends the token as a bearer to GET /auth/user and expects 401 with no forged claim in the body. */
async function refused(token: string, code: string | RegExp = 'invalid_token') {
  const res = await getUser(t.app, token);
  expect(res.statusCode, res.body).toBe(401);
  expect(res.data.error).toMatch(code);
  expect(res.body).not.toContain(u2.userId);
  return res;
}

describe('the baseline', () => {
  it('accepts the genuine token and a token minted with the real key and claims (so the refusals below are about the forgery)', async () => {
    expect((await getUser(t.app, u1.accessToken)).statusCode).toBe(200);
    const { kid, key } = activeKey(t);
    const good = forge({ alg: 'EdDSA', kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload), key);
    const res = await getUser(t.app, good);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.data.id).toBe(u1.userId);
  });
});

describe('TOK-01 alg none, in any spelling, is refused', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`refuses alg "${alg}" with an empty signature and with the original signature kept`, async () => {
      const p = parts(u1.accessToken);
      const forgedPayload = b64json({ ...p.payload, sub: u2.userId });
      const header = b64json({ alg, typ: 'at+jwt', kid: p.header.kid });
      await refused(`${header}.${forgedPayload}.`);
      await refused(`${header}.${p.raw[1]}.`);
      await refused(`${header}.${p.raw[1]}.${p.signature}`);
    });
  }
});

describe('TOK-02 algorithm confusion and empty-key HMAC are refused', () => {
  it('refuses HS256 tokens keyed with the public key in every encoding, and with empty keys', async () => {
    const jwks = (await call(t.app, { method: 'GET', url: '/.well-known/jwks.json' })).data;
    const jwk = jwks.keys[0];
    const payload = parts(u1.accessToken).payload;
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const secrets: (string | Uint8Array)[] = [Buffer.from(jwk.x, 'base64url'), jwk.x, pem, `\n${pem}`];
    for (const secret of secrets) await refused(forge({ alg: 'HS256', kid: jwk.kid, typ: 'at+jwt' }, payload, { hmac: secret }));
    await refused(forge({ alg: 'HS256', kid: 'does-not-exist', typ: 'at+jwt' }, payload, { hmac: '' }));
    await refused(forge({ alg: 'HS256', kid: '', typ: 'at+jwt' }, payload, { hmac: '' }));
    await refused(forge({ alg: 'HS256', typ: 'at+jwt' }, payload, { hmac: '' }));
  });

  it('refuses an EdDSA token signed by an attacker key that carries the real kid', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const { kid } = activeKey(t);
    await refused(forge({ alg: 'EdDSA', kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload), { ed25519: attacker.privateKey }));
  });

  it('refuses other asymmetric algorithms and the fully-specified Ed25519 name with our key (one key, one algorithm)', async () => {
    const { kid, key } = activeKey(t);
    const payload = accessPayload(t, parts(u1.accessToken).payload);
    for (const alg of ['Ed25519', 'ES256', 'RS256', 'PS256', 'EdDSA ', 'eddsa']) await refused(forge({ alg, kid, typ: 'at+jwt' }, payload, key));
  });
});

describe('TOK-03 key material comes only from configured keys', () => {
  it('ignores jwk, jku, x5u and x5c in the header and never fetches anything', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    const payload = accessPayload(t, parts(u1.accessToken).payload);
    const { kid } = activeKey(t);
    const headers: Record<string, unknown>[] = [
      { alg: 'EdDSA', typ: 'at+jwt', jwk: attackerJwk },
      { alg: 'EdDSA', typ: 'at+jwt', kid, jwk: attackerJwk },
      { alg: 'EdDSA', typ: 'at+jwt', jku: `${listenerUrl}/jwks.json` },
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jku: `${listenerUrl}/jwks.json` },
      { alg: 'EdDSA', typ: 'at+jwt', x5u: `${listenerUrl}/cert.pem` },
    ];
    for (const h of headers) {
      const started = performance.now();
      await refused(forge(h, payload, { ed25519: attacker.privateKey }));
      // No outbound fetch: a generous bound on a loaded machine; the listener count below is the proof.
      expect(performance.now() - started).toBeLessThan(2_000);
    }
    await refused(forge({ alg: 'EdDSA', typ: 'at+jwt', x5c: [ATTACKER_CERT_DER_B64] }, payload, { ed25519: ATTACKER_CERT_KEY }));
    await refused(forge({ alg: 'EdDSA', typ: 'at+jwt', kid, x5c: [ATTACKER_CERT_DER_B64] }, payload, { ed25519: ATTACKER_CERT_KEY }));
    expect(listenerHits).toBe(0);
  });

  it('treats kid as untrusted lookup input (path, SQL, 10 KB) without error or side effect', async () => {
    const { key } = activeKey(t);
    const payload = accessPayload(t, parts(u1.accessToken).payload);
    for (const kid of ['../../../../dev/null', "' OR '1'='1", 'x'.repeat(10 * 1024), '__proto__', 'constructor']) {
      await refused(forge({ alg: 'EdDSA', kid, typ: 'at+jwt' }, payload, key));
    }
    expect(listenerHits).toBe(0);
  });
});

describe('TOK-04 signature and structure integrity', () => {
  it('refuses an edited payload under the original signature', async () => {
    const p = parts(u1.accessToken);
    await refused(`${p.raw[0]}.${b64json({ ...p.payload, sub: u2.userId })}.${p.signature}`);
    await refused(`${p.raw[0]}.${b64json({ ...p.payload, tid: t2Id })}.${p.signature}`);
    await refused(`${p.raw[0]}.${b64json({ ...p.payload, roles: ['owner'], org: '00000000-0000-4000-8000-000000000000' })}.${p.signature}`);
  });

  it('refuses a stripped signature and a signature grafted from another user\'s token', async () => {
    const p = parts(u1.accessToken);
    await refused(`${p.raw[0]}.${p.raw[1]}.`);
    await refused(`${p.raw[0]}.${p.raw[1]}`);
    await refused(`${p.raw[0]}.${p.raw[1]}.${parts(u2.accessToken).signature}`);
  });

  it('⚿ refuses a properly signed token whose crit names an unknown extension', async () => {
    const { kid, key } = activeKey(t);
    await refused(forge({ alg: 'EdDSA', kid, typ: 'at+jwt', crit: ['x-unknown'], 'x-unknown': true }, accessPayload(t, parts(u1.accessToken).payload), key));
  });

  it('refuses a flattened JSON JWS and an unsecured b64:false token as the bearer value', async () => {
    const p = parts(u1.accessToken);
    await refused(JSON.stringify({ protected: p.raw[0], payload: p.raw[1], signature: p.signature }));
    const { kid, key } = activeKey(t);
    await refused(forge({ alg: 'EdDSA', kid, typ: 'at+jwt', b64: false, crit: ['b64'] }, accessPayload(t, p.payload), key));
  });

  it('answers a 16 KB Authorization header with 401 (or 431), never a 500, and keeps serving', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/user', headers: { authorization: `Bearer ${'a'.repeat(16 * 1024)}` } });
    expect([401, 431]).toContain(res.statusCode);
    expect(res.data.error).toBeTypeOf('string');
    expect((await getUser(t.app, u1.accessToken)).statusCode).toBe(200);
  });
});

describe('TOK-05 time claims are enforced with a small, documented leeway (30 s)', () => {
  const mintWith = (over: Record<string, unknown>) => {
    const { kid, key } = activeKey(t);
    return forge({ alg: 'EdDSA', kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload, over), key);
  };
  const now = () => Math.floor(t.clock.nowMs() / 1000);

  it('⚿ expired → token_expired; missing exp, future nbf, future iat → invalid_token', async () => {
    await refused(mintWith({ exp: now() - 120 }), 'token_expired');
    await refused(mintWith({ exp: undefined }));
    await refused(mintWith({ nbf: now() + 120 }));
    await refused(mintWith({ iat: now() + 3600 }));
    await refused(mintWith({ exp: String(now() + 600) }));
  });

  it('⚿ the leeway is 30 s: exp 10 s ago still passes, 31 s ago does not', async () => {
    expect((await getUser(t.app, mintWith({ exp: now() - 10 }))).statusCode).toBe(200);
    await refused(mintWith({ exp: now() - 31 }), 'token_expired');
  });

  it('a tenant with accessTokenTtlSeconds=5: the token dies 5 s + leeway after sign-in, also once cached', async () => {
    const tenant = await t.deps.tenants.create({ slug: 'tok-short', name: 'Short', settings: { accessTokenTtlSeconds: 5 } });
    await raiseLimits(t, 'tok-short');
    const s = await register(t.app, { tenant: 'tok-short' });
    expect(s.body.tokens.expiresIn).toBe(5);
    expect((await getUser(t.app, s.accessToken)).statusCode).toBe(200);
    t.clock.advance((5 + 30 + 1) * 1000);
    await refused(s.accessToken, 'token_expired');
    expect(tenant.settings.accessTokenTtlSeconds).toBe(5);
  });
});

describe('TOK-06 issuer, type and audience are checked', () => {
  const mintWith = (over: Record<string, unknown>, header: Record<string, unknown> = {}) => {
    const { kid, key } = activeKey(t);
    return forge({ alg: 'EdDSA', kid, typ: 'at+jwt', ...header }, accessPayload(t, parts(u1.accessToken).payload, over), key);
  };

  it('the genuine token carries typ at+jwt, iss = PUBLIC_URL, aud = the tenant id', async () => {
    const p = parts(u1.accessToken);
    expect(p.header.typ).toBe('at+jwt');
    expect(p.header.alg).toBe('EdDSA');
    expect(p.payload.iss).toBe(TEST_PUBLIC_URL);
    expect(p.payload.aud).toBe((await t.deps.tenants.defaultTenant()).id);
  });

  it('⚿ refuses another issuer, typ JWT or none, and another tenant\'s or app\'s audience', async () => {
    await refused(mintWith({ iss: 'https://evil.example' }));
    await refused(mintWith({ iss: `${TEST_PUBLIC_URL}/` }));
    await refused(mintWith({}, { typ: 'JWT' }));
    await refused(mintWith({}, { typ: undefined }));
    await refused(mintWith({}, { typ: 'xd+jwt' }));
    await refused(mintWith({ aud: t2Id }));
    await refused(mintWith({ aud: 'some-other-app' }));
    await refused(mintWith({ aud: [parts(u1.accessToken).payload.aud] }));
  });

  it('refuses a cross-domain handoff token as a bearer, and /token/verify refuses an access token', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(tenant.id, { settings: { allowedOrigins: ['https://app.example'] } });
    const issued = await call(t.app, { method: 'POST', url: '/auth/token/issue', token: u1.accessToken, json: { audience: 'https://app.example' } });
    expect(issued.statusCode, issued.body).toBe(200);
    await refused(issued.data.token);
    const verify = await call(t.app, { method: 'POST', url: '/auth/token/verify', json: { token: u1.accessToken, audience: 'https://app.example' } });
    expect(verify.statusCode === 401 || verify.data.valid === false, verify.body).toBe(true);
  });
});

describe('TOK-07 tokens are bound to their tenant and to a live subject', () => {
  it('X-Tenant-ID naming another tenant → 403 tenant_mismatch', async () => {
    const res = await getUser(t.app, u1.accessToken, { 'x-tenant-id': 'tok-t2' });
    expect(res.statusCode).toBe(403);
    expect(res.data.error).toBe('tenant_mismatch');
  });

  it('⚿ a token whose tid is T2 but whose sid lives in T → 401 (with T2\'s audience too)', async () => {
    await refused(forge({ alg: 'EdDSA', kid: activeKey(t).kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload, { tid: t2Id }), activeKey(t).key));
    await refused(forge({ alg: 'EdDSA', kid: activeKey(t).kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload, { tid: t2Id, aud: t2Id }), activeKey(t).key));
    // and the mirror: V1's session under T's tid
    await refused(forge({ alg: 'EdDSA', kid: activeKey(t).kid, typ: 'at+jwt' }, accessPayload(t, parts(v1.accessToken).payload, { tid: parts(u1.accessToken).payload.tid }), activeKey(t).key));
  });

  it('⚿ a token naming another user of the same session → 401', async () => {
    await refused(forge({ alg: 'EdDSA', kid: activeKey(t).kid, typ: 'at+jwt' }, accessPayload(t, parts(u1.accessToken).payload, { sub: u2.userId }), activeKey(t).key));
  });

  it('a disabled user\'s unexpired access token → 401 at once, on every instance', async () => {
    const victim = await register(t.app, { email: newEmail('disabled') });
    const b = await t.second();
    expect((await getUser(b.app, victim.accessToken)).statusCode).toBe(200);
    // What PATCH /auth/admin/users/{id} {"disabled":true} does: users.setDisabled ends every session.
    await t.deps.services.users.setDisabled((await t.deps.tenants.defaultTenant()).id, victim.userId, true);
    for (const app of [t.app, b.app]) {
      const res = await getUser(app, victim.accessToken);
      expect(res.statusCode).toBe(401);
    }
  });
});
