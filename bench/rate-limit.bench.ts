import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../src/deps.js';
import type { ModuleDef } from '../src/modules/module.js';
import { assertClean, load, loadPair, startApp, startBaseline, type BenchRow } from './lib.js';

/**
 * The limiter's overhead: a trivial route, and a route doing one SQL query (like the credential
 * routes that look a token or key up), each mounted twice in the same app, once limited as
 * 'credential' (sliding window in the store + RateLimit-* headers) and once with rateLimit 'none'. The limit is raised so that every request is admitted: this measures the cost of
 * counting, not of refusing. Target: limited ≥ 0.9 × unlimited.
 */
function benchRoutes(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const Out = z.object({ ok: z.boolean(), service: z.string() });
    const handler = async () => ({ ok: true, service: 'bench' });
    r.get('/bench/limited', { config: { auth: 'public', rateLimit: 'credential' }, schema: { operationId: 'benchLimited', response: { 200: Out } } }, handler);
    r.get('/bench/unlimited', { config: { auth: 'public', rateLimit: 'none' }, schema: { operationId: 'benchUnlimited', response: { 200: Out } } }, handler);
    // Closer to a real credential route (token/verify, api-key/validate): one Postgres round trip.
    const dbHandler = async () => ({ ok: (await deps.sql.tx(null, (tx) => tx.query('SELECT 1 AS one'))).rowCount === 1, service: 'bench' });
    r.get('/bench/db-limited', { config: { auth: 'public', rateLimit: 'credential' }, schema: { operationId: 'benchDbLimited', response: { 200: Out } } }, dbHandler);
    r.get('/bench/db-unlimited', { config: { auth: 'public', rateLimit: 'none' }, schema: { operationId: 'benchDbUnlimited', response: { 200: Out } } }, dbHandler);
  };
  return { name: 'bench-rate-limit', plugin };
}

export default async function rateLimitBench(): Promise<BenchRow[]> {
  const baseline = await startBaseline();
  const app = await startApp({ env: { RATE_LIMIT_CREDENTIAL: '1000000/60' }, extraModules: [benchRoutes()] });
  try {
    const bare = await load(baseline.url);
    assertClean('bare route', bare);
    const trivial = await loadPair(
      { name: 'unlimited route', url: `${app.url}/auth/bench/unlimited` },
      { name: 'limited route', url: `${app.url}/auth/bench/limited` },
    );
    const sql = await loadPair(
      { name: 'SQL route, unlimited', url: `${app.url}/auth/bench/db-unlimited` },
      { name: 'SQL route, limited', url: `${app.url}/auth/bench/db-limited` },
    );
    const { a: unlimited, b: limited } = trivial;
    const { a: dbUnlimited, b: dbLimited } = sql;
    return [
      { name: 'bare Fastify JSON route', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, cpuUsPerReq: bare.cpuUsPerReq, note: 'the ceiling' },
      { name: 'trivial app route, rateLimit none', reqPerSec: unlimited.reqPerSec, ratio: unlimited.reqPerSec / bare.reqPerSec, target: null, p99Ms: unlimited.p99Ms, cpuUsPerReq: unlimited.cpuUsPerReq },
      {
        name: 'same route, rateLimit credential', reqPerSec: limited.reqPerSec, ratio: trivial.ratio, target: 0.9, p99Ms: limited.p99Ms, cpuUsPerReq: limited.cpuUsPerReq,
        note: `ratio to the unlimited route; by CPU ${trivial.cpuRatio.toFixed(2)}`,
      },
      { name: 'route with one SQL query, rateLimit none', reqPerSec: dbUnlimited.reqPerSec, ratio: dbUnlimited.reqPerSec / bare.reqPerSec, target: null, p99Ms: dbUnlimited.p99Ms, cpuUsPerReq: dbUnlimited.cpuUsPerReq },
      {
        name: 'same SQL route, rateLimit credential', reqPerSec: dbLimited.reqPerSec, ratio: sql.ratio, target: 0.9, p99Ms: dbLimited.p99Ms, cpuUsPerReq: dbLimited.cpuUsPerReq,
        note: `ratio to the unlimited SQL route; by CPU ${sql.cpuRatio.toFixed(2)}`,
      },
    ];
  } finally {
    await app.close();
    await baseline.close();
  }
}
