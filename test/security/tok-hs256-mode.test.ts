import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { accessPayload, b64json, forge, getUser, HS256_ENV, HS256_SECRET, parts, raiseLimits, register, type SignedIn } from '../helpers/identity.js';

// The JWT_ALG=HS256 deployment: ⚿ checks sign with the test's JWT_SECRET.

let t: TestApp;
let u1: SignedIn;
let kid: string;

beforeAll(async () => {
  t = await createTestApp({ env: HS256_ENV });
  await raiseLimits(t);
  u1 = await register(t.app);
  kid = parts(u1.accessToken).header.kid as string;
});
afterAll(async () => { await t?.close(); });

const secret = { hmac: HS256_SECRET };
const mintWith = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: Parameters<typeof forge>[2] = secret) =>
  forge({ alg: 'HS256', kid, typ: 'at+jwt', ...header }, accessPayload(t, parts(u1.accessToken).payload, over), key);

async function refused(token: string, code = 'invalid_token') {
  const res = await getUser(t.app, token);
  expect(res.statusCode, res.body).toBe(401);
  expect(res.data.error).toBe(code);
}

describe('HS256 mode', () => {
  it('signs HS256 with a kid and accepts a token minted with the secret and valid claims', async () => {
    const p = parts(u1.accessToken);
    expect(p.header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
    expect(p.payload.iss).toBe(TEST_PUBLIC_URL);
    expect((await getUser(t.app, u1.accessToken)).statusCode).toBe(200);
    expect((await getUser(t.app, mintWith())).statusCode).toBe(200);
  });

  it('TOK-08: publishes no keys (never the symmetric k)', async () => {
    const res = await call(t.app, { method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.data).toEqual({ keys: [] });
    expect(res.body).not.toContain('"k"');
    expect(res.body).not.toContain(Buffer.from(HS256_SECRET).toString('base64url'));
  });

  it('TOK-01: alg none in any spelling is refused', async () => {
    const p = parts(u1.accessToken);
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await refused(`${b64json({ alg, typ: 'at+jwt', kid })}.${p.raw[1]}.`);
      await refused(`${b64json({ alg, typ: 'at+jwt', kid })}.${p.raw[1]}.${p.signature}`);
    }
  });

  it('TOK-02 mirror: an EdDSA header is refused on an HS256 deployment, whatever key signed it', async () => {
    const attacker = generateKeyPairSync('ed25519');
    await refused(mintWith({}, { alg: 'EdDSA' }, { ed25519: attacker.privateKey }));
    await refused(mintWith({}, { alg: 'HS512' }));
    await refused(mintWith({}, { alg: 'HS384' }));
  });

  it('TOK-02: empty and wrong HMAC keys, unknown kids are refused', async () => {
    await refused(mintWith({}, {}, { hmac: '' }));
    await refused(mintWith({}, { kid: 'does-not-exist' }, { hmac: '' }));
    await refused(mintWith({}, { kid: '' }, { hmac: '' }));
    await refused(mintWith({}, { kid: 'does-not-exist' }));
    await refused(mintWith({}, {}, { hmac: `${HS256_SECRET}x` }));
  });

  it('TOK-05 ⚿: expiry, missing exp, future nbf and iat', async () => {
    const now = Math.floor(t.clock.nowMs() / 1000);
    await refused(mintWith({ exp: now - 120 }), 'token_expired');
    await refused(mintWith({ exp: undefined }));
    await refused(mintWith({ nbf: now + 120 }));
    await refused(mintWith({ iat: now + 3600 }));
  });

  it('TOK-06 ⚿: issuer, typ and audience', async () => {
    await refused(mintWith({ iss: 'https://evil.example' }));
    await refused(mintWith({}, { typ: 'JWT' }));
    await refused(mintWith({}, { typ: undefined }));
    await refused(mintWith({ aud: 'another-app' }));
  });

  it('TOK-04 ⚿: crit with an unknown extension is refused', async () => {
    await refused(mintWith({}, { crit: ['x-unknown'], 'x-unknown': 1 }));
  });
});
