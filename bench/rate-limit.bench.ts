import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../src/deps.js';
import type { ModuleDef } from '../src/modules/module.js';
import { assertClean, load, startApp, startBaseline, type BenchRow } from './lib.js';

/**
 * The limiter's overhead: one trivial route mounted twice in the same app, once limited as
 * 'credential' (ban check + sliding window in the store + RateLimit-* headers) and once with
 * rateLimit 'none'. The limit is raised so that every request is admitted: this measures the cost of
 * counting, not of refusing. Target: limited ≥ 0.9 × unlimited.
 */
function benchRoutes(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const Out = z.object({ ok: z.boolean(), service: z.string() });
    const handler = async () => ({ ok: true, service: 'bench' });
    r.get('/bench/limited', { config: { auth: 'public', rateLimit: 'credential' }, schema: { operationId: 'benchLimited', response: { 200: Out } } }, handler);
    r.get('/bench/unlimited', { config: { auth: 'public', rateLimit: 'none' }, schema: { operationId: 'benchUnlimited', response: { 200: Out } } }, handler);
  };
  return { name: 'bench-rate-limit', plugin };
}

export default async function rateLimitBench(): Promise<BenchRow[]> {
  const baseline = await startBaseline();
  const app = await startApp({ env: { RATE_LIMIT_CREDENTIAL: '1000000/60' }, extraModules: [benchRoutes()] });
  try {
    const bare = await load(baseline.url);
    assertClean('bare route', bare);
    const unlimited = await load(`${app.url}/auth/bench/unlimited`);
    assertClean('unlimited route', unlimited);
    const limited = await load(`${app.url}/auth/bench/limited`);
    assertClean('limited route', limited);
    return [
      { name: 'bare Fastify JSON route', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, note: 'the ceiling' },
      { name: 'trivial app route, rateLimit none', reqPerSec: unlimited.reqPerSec, ratio: unlimited.reqPerSec / bare.reqPerSec, target: null, p99Ms: unlimited.p99Ms },
      {
        name: 'same route, rateLimit credential', reqPerSec: limited.reqPerSec, ratio: limited.reqPerSec / unlimited.reqPerSec, target: 0.9, p99Ms: limited.p99Ms,
        note: 'ratio to the unlimited route',
      },
    ];
  } finally {
    await app.close();
    await baseline.close();
  }
}
