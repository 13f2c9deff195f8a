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
 * Target: the "on" figure ≥ 0.97 × the "off" figure. A second, steadier figure compares the CPU time per
 * in-process request (app.inject) of the two apps, which a busy machine disturbs much less than req/s.
 */
async function bearerToken(app: Running): Promise<string> {
  const reg = await app.app.inject({
    method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
  });
  if (reg.statusCode !== 200) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
  return (reg.json() as { tokens: { accessToken: string } }).tokens.accessToken;
}

/** CPU time per in-process `GET /auth/user` (app.inject: every hook and the handler, no sockets), µs. */
async function injectCpuUs(app: Running, token: string, n: number): Promise<number> {
  const headers = { authorization: `Bearer ${token}` };
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = await app.app.inject({ method: 'GET', url: '/auth/user', headers });
    if (r.statusCode !== 200) throw new Error(`GET /auth/user answered ${r.statusCode}`);
  }
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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
    // The same comparison without sockets or a load generator: CPU per request of app.inject, alternating
    // rounds. Far steadier than req/s on a shared machine (it counts only this process's CPU time).
    const ratios: number[] = [];
    const cpu: [number[], number[]] = [[], []];
    for (const warm of [true, false]) {
      for (let i = 0; i < (warm ? 1 : 9); i++) {
        metricsSwitch.on = false;
        const a = await injectCpuUs(off, offToken, 3000);
        metricsSwitch.on = true;
        const b = await injectCpuUs(on, onToken, 3000);
        if (warm) continue;
        cpu[0].push(a);
        cpu[1].push(b);
        ratios.push(a / b);
      }
    }
    const injectRatio = median(ratios);
    process.stdout.write(`  in-process (app.inject) CPU per request: off ${median(cpu[0]).toFixed(1)} µs, on ${median(cpu[1]).toFixed(1)} µs, off/on ${injectRatio.toFixed(3)}\n`);
    return [
      { name: 'bearer GET /auth/user, metrics off', reqPerSec: r.a.reqPerSec, ratio: 1, target: null, p99Ms: r.a.p99Ms, cpuUsPerReq: r.a.cpuUsPerReq, note: 'the reference of the next row' },
      { name: 'bearer GET /auth/user, metrics on', reqPerSec: r.b.reqPerSec, ratio: r.ratio, target: 0.97, p99Ms: r.b.p99Ms, cpuUsPerReq: r.b.cpuUsPerReq, note: `on/off; by CPU ${r.cpuRatio.toFixed(3)}` },
      { name: 'in-process GET /auth/user, metrics on (CPU)', reqPerSec: 1e6 / median(cpu[1]), ratio: injectRatio, target: 0.97, cpuUsPerReq: median(cpu[1]), note: 'off/on CPU per app.inject request, 9 alternating rounds' },
    ];
  } finally {
    clearInterval(scraper);
    await metrics.close();
    await on.close();
    await off.close();
  }
}
