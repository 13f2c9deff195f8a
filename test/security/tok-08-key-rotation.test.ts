import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, TEST_AUTH_SECRET, type TestApp } from '../helpers/app.js';
import { BACKEND, REDIS_URL } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { accessPayload, activeKey, forge, getUser, login, parts, raiseLimits, register, type SignedIn } from '../helpers/identity.js';
import { deriveKey, open } from '../../src/lib/crypto.js';
import { MAX_ACCESS_TTL_SECONDS } from '../../src/modules/tokens/signing-keys.js';

// TOK-08: JWKS publishes public keys only, and rotation logs nobody out; private keys are sealed at rest.

let t: TestApp;
let u: SignedIn;

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  u = await register(t.app);
});
afterAll(async () => { await t?.close(); });

const jwks = async (app = t.app) => {
  const res = await call(app, { method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return res.data.keys as Record<string, unknown>[];
};

/** Polls until `fn` holds (pub/sub delivery to the other instance is asynchronous). */
async function eventually(fn: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('TOK-08 JWKS and key rotation', () => {
  it('publishes public Ed25519 keys only, each with kty, kid, alg and use, no private or symmetric members', async () => {
    const keys = await jwks();
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(typeof k.kid).toBe('string');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k).not.toHaveProperty(member);
    }
    expect(new Set(keys.map((k) => k.kid)).size).toBe(keys.length);
    expect(keys.map((k) => k.kid)).toContain(parts(u.accessToken).header.kid);
  });

  it('stores private keys sealed with a key derived from AUTH_SECRET (never as plaintext)', async () => {
    const { rows } = await t.stores.sql.ownerQuery<{ kid: string; private_sealed: string; public_jwk: Record<string, unknown> }>('SELECT kid, private_sealed, public_jwk FROM signing_keys');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const r of rows) {
      expect(r.private_sealed).toMatch(/^v1\./);
      expect(r.private_sealed).not.toContain('PRIVATE KEY');
      expect(r.public_jwk).not.toHaveProperty('d');
      const pem = open(deriveKey(TEST_AUTH_SECRET, 'signing-keys'), r.private_sealed, `signing-key:${r.kid}`).toString('utf8');
      expect(pem).toContain('BEGIN PRIVATE KEY');
      expect(() => open(deriveKey(`${TEST_AUTH_SECRET}-other`, 'signing-keys'), r.private_sealed, `signing-key:${r.kid}`)).toThrow();
      // bound to its kid: a sealed key copied onto another row does not open
      expect(() => open(deriveKey(TEST_AUTH_SECRET, 'signing-keys'), r.private_sealed, 'signing-key:other')).toThrow();
    }
  });

  it('rotation (authplane rotate-signing-key) keeps old tokens valid on every instance; new sign-ins use the new kid', async () => {
    const b = await t.second();
    const oldKid = parts(u.accessToken).header.kid as string;
    // A token minted with the old key and a long life: it must outlive rotation but not retirement.
    const longLived = forge({ alg: 'EdDSA', kid: oldKid, typ: 'at+jwt' }, accessPayload(t, parts(u.accessToken).payload, { exp: Math.floor(t.clock.nowMs() / 1000) + 3 * 86_400 }), activeKey(t).key);
    expect((await getUser(t.app, longLived)).statusCode).toBe(200);

    let newKid: string;
    if (BACKEND === 'services') {
      // The real command, against the same Postgres and Redis key space as the running instances.
      const res = await runCli(['rotate-signing-key'], { DATABASE_URL: t.stores.databaseUrl!, REDIS_URL, KV_PREFIX: t.stores.kvPrefix, AUTH_SECRET: TEST_AUTH_SECRET });
      expect(res.code, res.stderr).toBe(0);
      newKid = /new active signing key: (\S+)/.exec(res.stdout)![1]!;
    } else {
      // Embedded: PGlite is held by this process, so the command's service is called directly.
      newKid = await t.deps.services.rotateSigningKey();
    }
    expect(newKid).not.toBe(oldKid);

    for (const app of [t.app, b.app]) {
      await eventually(async () => (await jwks(app)).some((k) => k.kid === newKid));
      const kids = (await jwks(app)).map((k) => k.kid);
      expect(kids).toContain(oldKid);
      expect(kids).toContain(newKid);
      expect((await getUser(app, u.accessToken)).statusCode).toBe(200);
    }
    await eventually(async () => t.deps.services.signingKeys.signer().kid === newKid && b.deps.services.signingKeys.signer().kid === newKid);
    const again = await login(t.app, { email: u.email });
    expect(parts(again.accessToken).header.kid).toBe(newKid);
    const onB = await login(b.app, { email: u.email });
    expect(parts(onB.accessToken).header.kid).toBe(newKid);
    // each instance verifies what the other signed
    expect((await getUser(b.app, again.accessToken)).statusCode).toBe(200);
    expect((await getUser(t.app, onB.accessToken)).statusCode).toBe(200);

    // After the old key's retirement (the longest access-token lifetime + 5 min), its tokens die,
    // including one this instance had verified and cached before.
    expect((await getUser(t.app, longLived)).statusCode).toBe(200);
    const { rows } = await t.stores.sql.ownerQuery<{ retire_at: Date; superseded_at: Date }>('SELECT retire_at, superseded_at FROM signing_keys WHERE kid = $1', [oldKid]);
    const retireAt = new Date(rows[0]!.retire_at).getTime();
    expect(retireAt - new Date(rows[0]!.superseded_at).getTime()).toBe((MAX_ACCESS_TTL_SECONDS + 300) * 1000);
    t.clock.set(retireAt - 1000);
    expect((await getUser(t.app, longLived)).statusCode).toBe(200);
    t.clock.set(retireAt + 1000);
    const res = await getUser(t.app, longLived);
    expect(res.statusCode).toBe(401);
    expect(res.data.error).toBe('invalid_token');
    await t.deps.services.signingKeys.reload();
    expect((await jwks()).map((k) => k.kid)).not.toContain(oldKid);
  });
});
