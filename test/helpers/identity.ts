import { createHmac, KeyObject, randomUUID, sign as cryptoSign } from 'node:crypto';
import * as jose from 'jose';
import { expect } from 'vitest';
import { call, type TestApp } from './app.js';

/** Helpers for identity tests: users, sign-ins, token surgery. */

export const PASSWORD = 'correct horse battery staple';
/** For JWT_ALG=HS256 apps: createTestApp({ env: HS256_ENV }). */
export const HS256_SECRET = 'test-jwt-secret-0123456789abcdef0123456789abcdef';
export const HS256_ENV = { JWT_ALG: 'HS256', JWT_SECRET: HS256_SECRET };

let n = 0;
/** A fresh, unique email. */
export const newEmail = (prefix = 'user') => `${prefix}${++n}-${randomUUID().slice(0, 8)}@example.com`;

/** Checks that send many requests run with a raised rate limit for the tenant (SECURITY conventions). */
export async function raiseLimits(t: TestApp, tenantRef = 'default'): Promise<void> {
  const tenant = await t.deps.tenants.resolve(tenantRef);
  await t.deps.tenants.update(tenant!.id, { settings: { rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } } } });
}

export interface SignedIn {
  email: string;
  password: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
  cookies: string[];
  body: any;
}

const tenantHeaders = (tenant?: string): Record<string, string> => (tenant ? { 'x-tenant-id': tenant } : {});

/** POST /auth/register; expects 200 (the Cedros status). */
export async function register(app: TestApp['app'], o: { email?: string; password?: string; tenant?: string } = {}): Promise<SignedIn> {
  const email = o.email ?? newEmail();
  const password = o.password ?? PASSWORD;
  const res = await call(app, { method: 'POST', url: '/auth/register', json: { email, password }, headers: tenantHeaders(o.tenant) });
  expect(res.statusCode, res.body).toBe(200);
  return { email, password, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, cookies: setCookies(res), body: res.data };
}

/** POST /auth/login; expects 200. */
export async function login(app: TestApp['app'], o: { email: string; password?: string; tenant?: string }): Promise<SignedIn> {
  const password = o.password ?? PASSWORD;
  const res = await call(app, { method: 'POST', url: '/auth/login', json: { email: o.email, password }, headers: tenantHeaders(o.tenant) });
  expect(res.statusCode, res.body).toBe(200);
  return { email: o.email, password, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, cookies: setCookies(res), body: res.data };
}

export const setCookies = (res: { headers: Record<string, unknown> }): string[] => ([] as string[]).concat((res.headers['set-cookie'] as string | string[] | undefined) ?? []);

/** GET /auth/user with a bearer token (or any headers). */
export const getUser = (app: TestApp['app'], token?: string, headers: Record<string, string> = {}) =>
  call(app, { method: 'GET', url: '/auth/user', token, headers });

export const refresh = (app: TestApp['app'], refreshToken: string, headers: Record<string, string> = {}) =>
  call(app, { method: 'POST', url: '/auth/refresh', json: { refreshToken }, headers });

/** The decoded parts of a compact JWS. */
export function parts(token: string): { header: Record<string, unknown>; payload: Record<string, any>; signature: string; raw: [string, string, string] } {
  const [h, p, s] = token.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
    raw: [h, p, s],
  };
}

export const b64json = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/**
 * Compact JWS with exactly the given header, signed with raw node:crypto (so nothing refuses to produce
 * what an attacker would: empty HMAC keys, unknown `crit`, odd `alg` spellings). ⚿ checks: the test knows
 * the key. `key`: an Ed25519 private key (EdDSA) or HMAC secret bytes/string (HS256).
 */
export function forge(header: Record<string, unknown>, payload: Record<string, unknown>, key: { ed25519: jose.CryptoKey | KeyObject } | { hmac: string | Uint8Array }): string {
  const input = `${b64json(header)}.${b64json(payload)}`;
  let sig: Buffer;
  if ('ed25519' in key) {
    const k = key.ed25519 instanceof KeyObject ? key.ed25519 : KeyObject.from(key.ed25519 as unknown as CryptoKey);
    sig = cryptoSign(null, Buffer.from(input), k);
  } else {
    sig = createHmac('sha256', typeof key.hmac === 'string' ? Buffer.from(key.hmac, 'utf8') : Buffer.from(key.hmac)).update(input).digest();
  }
  return `${input}.${sig.toString('base64url')}`;
}

/** A valid access-token payload for `user` in `tenantId`, at the app's clock; override any claim. */
export function accessPayload(t: TestApp, base: Record<string, any>, over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(t.clock.nowMs() / 1000);
  return { ...base, iat: now, exp: now + 600, jti: randomUUID(), ...over };
}

/** The app's active signing key and kid (EdDSA private key, or the HS256 secret bytes). */
export function activeKey(t: TestApp): { kid: string; key: { ed25519: jose.CryptoKey } | { hmac: Uint8Array } } {
  const s = t.deps.services.signingKeys.signer();
  return { kid: s.kid, key: s.key instanceof Uint8Array ? { hmac: s.key } : { ed25519: s.key } };
}

/** Row count of a table, read as the database owner (RLS does not hide rows from it). */
export async function count(t: TestApp, table: string): Promise<number> {
  const r = await t.stores.sql.ownerQuery<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
  return Number(r.rows[0]!.n);
}

/** Runs SQL as the database owner (e.g. to disable a user before the admin route exists). */
export async function ownerSql(t: TestApp, text: string, params: unknown[] = []): Promise<void> {
  await t.stores.sql.ownerQuery(text, params);
}
