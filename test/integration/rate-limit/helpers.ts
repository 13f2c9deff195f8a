import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../../src/deps.js';
import type { ModuleDef } from '../../../src/modules/module.js';
import { errorResponses } from '../../../src/http/schemas.js';
import { call, type TestApp } from '../../helpers/app.js';

let ipCounter = 0;
/** A fresh client address per call (so tests in one file do not share buckets). */
export const freshIp = (): string => {
  ipCounter += 1;
  return `198.51.${(ipCounter >> 8) & 0xff}.${ipCounter & 0xff}`;
};

/** POST /auth/login with an invalid body: cheap (400 after the limiter), counted like any attempt. */
export const loginAttempt = (app: FastifyInstance, ip: string, extra: { url?: string; headers?: Record<string, string> } = {}) =>
  call(app, { method: 'POST', url: extra.url ?? '/auth/login', json: {}, remoteAddress: ip, headers: extra.headers });

/** Sends `n` login attempts in sequence from `ip`; returns their status codes. */
export async function loginAttempts(app: FastifyInstance, ip: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) out.push((await loginAttempt(app, ip)).statusCode);
  return out;
}

/** An admin key for the admin plane. */
export async function adminToken(t: TestApp): Promise<string> {
  const k = await t.deps.adminKeys.create({ name: 'rate-limit-test', expiresInDays: 1 });
  return k.key;
}

/** Audit rows of an action, newest first. */
export async function auditRows(t: TestApp, action: string) {
  return (await t.deps.audit.list({ action, limit: 200 })).items;
}

/**
 * Probe routes: a GET limited as 'credential' (to check HEAD shares GET's bucket), and the same
 * trivial POST once limited and once not.
 */
export function limiterProbeModule(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const Ok = z.object({ ok: z.boolean() });
    r.get('/probe/credential-get', {
      config: { auth: 'public', rateLimit: 'credential' },
      schema: { operationId: 'probeCredentialGet', response: { 200: Ok, ...errorResponses(429, 503) } },
    }, async () => ({ ok: true }));
    r.post('/probe/unlimited', {
      config: { auth: 'public', rateLimit: 'none' },
      schema: { operationId: 'probeUnlimited', response: { 200: Ok } },
    }, async () => ({ ok: true }));
  };
  return { name: 'limiter-probe', plugin };
}
