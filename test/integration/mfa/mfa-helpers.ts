import { expect } from 'vitest';
import { decodeJwt } from 'jose';
import { call, type TestApp } from '../../helpers/app.js';
import { totpAt } from '../../../src/modules/mfa/totp.js';

export const PASSWORD = 'correct horse battery staple';

/** Raised limits: these files send many requests from one address (only the RL checks use the real limits). */
export const MFA_TEST_ENV = { RATE_LIMIT_CREDENTIAL: '100000/60', RATE_LIMIT_DEFAULT: '100000/60', RATE_LIMIT_ACCOUNT: '100/900' };

let n = 0;
export const newEmail = (tag = 'mfa') => `${tag}${++n}-${process.pid}-${Date.now()}@example.com`;

export interface TestUser {
  email: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
  apiKey?: string;
  sessionId: string;
}

const sidOf = (at: string) => String(decodeJwt(at).sid);
export const amrOf = (at: string) => decodeJwt(at).amr as string[];

/** Registers a user (with a password) and returns its first session. */
export async function register(t: TestApp, o: { email?: string; tenant?: string } = {}): Promise<TestUser> {
  const email = o.email ?? newEmail();
  const res = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD }, headers: o.tenant ? { 'x-tenant-id': o.tenant } : {} });
  expect(res.statusCode, res.body).toBe(200);
  return { email, userId: res.data.user.id, accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, apiKey: res.data.apiKey, sessionId: sidOf(res.data.tokens.accessToken) };
}

/** The TOTP code of the current step of the test clock. */
export const codeNow = (t: TestApp, secret: string) => totpAt(secret, Math.floor(t.clock.nowMs() / 1000));

/** Moves the clock to the next 30-s step and returns its code (a code works once: each use needs a new step). */
export function nextCode(t: TestApp, secret: string): string {
  t.clock.advance(30_000);
  return codeNow(t, secret);
}

/** setup → enable; returns the secret and the recovery codes. */
export async function enableMfa(t: TestApp, token: string, headers: Record<string, string> = {}): Promise<{ secret: string; recoveryCodes: string[] }> {
  const setup = await call(t.app, { method: 'POST', url: '/auth/mfa/setup', token, headers });
  expect(setup.statusCode, setup.body).toBe(200);
  const en = await call(t.app, { method: 'POST', url: '/auth/mfa/enable', token, headers, json: { code: nextCode(t, setup.data.secret) } });
  expect(en.statusCode, en.body).toBe(200);
  return { secret: setup.data.secret, recoveryCodes: en.data.recoveryCodes };
}

/** POST /login → the mfaToken of an MFA user. */
export async function loginForMfaToken(t: TestApp, email: string, headers: Record<string, string> = {}, remoteAddress?: string): Promise<string> {
  const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: PASSWORD }, headers, ...(remoteAddress ? { remoteAddress } : {}) });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.data.mfaRequired, res.body).toBe(true);
  return res.data.mfaToken;
}

/** A full MFA sign-in with the next code; returns the new session's tokens. */
export async function loginWithMfa(t: TestApp, email: string, secret: string): Promise<{ accessToken: string; refreshToken: string; sessionId: string }> {
  const mfaToken = await loginForMfaToken(t, email);
  const res = await call(t.app, { method: 'POST', url: '/auth/login/mfa', json: { mfaToken, code: nextCode(t, secret) } });
  expect(res.statusCode, res.body).toBe(200);
  return { accessToken: res.data.tokens.accessToken, refreshToken: res.data.tokens.refreshToken, sessionId: sidOf(res.data.tokens.accessToken) };
}

/** A password-only session of an MFA user is impossible; this makes a session without a step-up mark. */
export async function freshSessionWithoutStepUp(t: TestApp, email: string, secret: string) {
  const s = await loginWithMfa(t, email, secret);
  t.clock.advance(5 * 60_000 + 1_000); // the sign-in's step-up mark lapses
  return s;
}

/** Rows of an audit action, newest first. */
export async function auditOf(t: TestApp, action: string) {
  return (await t.deps.audit.list({ action, limit: 200 })).items;
}

/** Counts rows of a table across tenants (owner role: bypasses RLS, for assertions only). */
export async function countRows(t: TestApp, table: 'user_mfa' | 'mfa_recovery_codes', where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await t.deps.sql.ownerQuery<{ n: string | number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(rows[0]!.n);
}
