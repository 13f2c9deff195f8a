import { randomUUID } from 'node:crypto';
import { loadPair, startApp, type BenchRow, type Running } from './lib.js';
import { metricsSwitch } from '../src/modules/metrics/registry.js';
import { startMetricsServer } from '../src/modules/metrics/metrics-server.js';

/**
 * The cost of metrics (issue 19): bearer `GET /auth/user` on two apps of the same build, one without
 * METRICS_PORT (no request hook) and one with it (the request counter and histogram, store timers), measured
 * alternately. The request, query and Redis timers are switched by one process-wide flag, so it is set
 * before each run to what that app would have on its own; the event counters (sign-ins, cache hits) count
 * in both, as they do in production. Prometheus scrapes the "on" app once a second meanwhile.
 * Target: the "on" figure ≥ 0.97 × the "off" figure.
 */
async function bearerToken(app: Running): Promise<string> {
  const reg = await app.app.inject({
    method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
  });
  if (reg.statusCode !== 201) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
  return (reg.json() as { tokens: { accessToken: string } }).tokens.accessToken;
}

export default async function metricsBench(): Promise<BenchRow[]> {
  const env = { RATE_LIMIT_DEFAULT: '1000000/60' };
  const off = await startApp({ env });
  const on = await startApp({ env: { ...env, METRICS_PORT: '0' } });
  const metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 });
  const scraper = setInterval(() => { fetch(`http://127.0.0.1:${metrics.address.port}/metrics`).then((r) => r.text(), () => {}); }, 1000);
  try {
    const [offToken, onToken] = [await bearerToken(off), await bearerToken(on)];
    const r = await loadPair(
      { name: 'metrics off', url: `${off.url}/auth/user`, opts: { headers: { authorization: `Bearer ${offToken}` } }, before: () => { metricsSwitch.on = false; } },
      { name: 'metrics on', url: `${on.url}/auth/user`, opts: { headers: { authorization: `Bearer ${onToken}` } }, before: () => { metricsSwitch.on = true; } },
    );
    process.stdout.write(`  metrics on / off, bearer GET /auth/user: ${r.ratio.toFixed(3)} by req/s, ${r.cpuRatio.toFixed(3)} by CPU\n`);
    return [
      { name: 'bearer GET /auth/user, metrics off', reqPerSec: r.a.reqPerSec, ratio: 1, target: null, p99Ms: r.a.p99Ms, cpuUsPerReq: r.a.cpuUsPerReq, note: 'the reference of the next row' },
      { name: 'bearer GET /auth/user, metrics on', reqPerSec: r.b.reqPerSec, ratio: r.ratio, target: 0.97, p99Ms: r.b.p99Ms, cpuUsPerReq: r.b.cpuUsPerReq, note: `on/off; by CPU ${r.cpuRatio.toFixed(3)}` },
    ];
  } finally {
    clearInterval(scraper);
    await metrics.close();
    await on.close();
    await off.close();
  }
}
