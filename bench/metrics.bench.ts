import { randomUUID } from 'node:crypto';
import { AUTOCANNON, BACKEND, CONNECTIONS, runAutocannon, type BenchRow } from './lib.js';
import { startServerProc, type ServerProc, type WindowCost } from './metrics-proc.js';

/**
 * The cost of metrics (issue 19: "metrics add at most 3 % to the bearer `GET /auth/user` figure, ratio of
 * two runs of the same build, metrics on vs off"). Method and figures: docs/metrics-benchmark.md.
 *
 * Two servers of the same build, each its own process started as an operator would (`src/main.ts serve`),
 * one with METRICS_PORT (the request counter and latency histogram, the query/Redis timers, the process
 * metrics) and one without. The load generator (autocannon, `-a N`) runs in another process. Every round
 * sends exactly N bearer `GET /auth/user` requests to each server, alternating which goes first, inside a
 * measured window (bench/metrics-marks.mjs), and the figure is what the window cost the server per request:
 *
 * - primary: CPU time per request of the server process (user + system, every thread). Unlike req/s it does
 *   not count time the server spent waiting for a core another process held, so a busy shared machine moves
 *   it little, and alternating rounds cancel what it does move; the median of the per-round on/off ratios
 *   is the figure, and the spread of those ratios is printed with it.
 * - with BENCH_CALLGRIND=1: instructions per request counted by `valgrind --tool=callgrind` (exact and
 *   independent of load; slow: the servers start in minutes and serve ~100 req/s, so fewer rounds).
 * - secondary: req/s of the same rounds (N ÷ the run's duration), medians; it moves with the machine's load.
 *
 * Prometheus's scrapes are made between rounds (one per round on the "on" server), not inside the windows:
 * their cost is per scrape, not per request, and is measured on its own (a window holding one scrape).
 * A window with no requests measures the servers' background work (timers, the webhook worker's poll),
 * which the windows also hold; it is printed so a reader can see it is small next to N requests.
 */
const CALLGRIND = process.env.BENCH_CALLGRIND === '1';
const N = Number(process.env.BENCH_METRICS_REQUESTS ?? (CALLGRIND ? 400 : 4000));
const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? (CALLGRIND ? 3 : 15));
const WARMUP = Number(process.env.BENCH_METRICS_WARMUP ?? (CALLGRIND ? 1500 : 4 * N));
/** The most metrics may add to a request: on/off ≤ 1.03. */
const LIMIT = 1.03;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function bearerToken(s: ServerProc): Promise<string> {
  const r = await fetch(`${s.url}/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
  });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${s.name}: register answered ${r.status}: ${body}`);
  return (JSON.parse(body) as { tokens: { accessToken: string } }).tokens.accessToken;
}

/**
 * Sends exactly `n` bearer GET /auth/user to `s` (CONNECTIONS connections; 4 under callgrind, whose ~50× slower
 * event loop would otherwise leave requests queued past the database client's timeouts); every answer must be a 200. Returns req/s.
 */
async function drive(s: ServerProc, token: string, n: number, o: { warmup?: boolean } = {}): Promise<number> {
  const out = await runAutocannon([AUTOCANNON, '-j', '-c', String(Math.min(CALLGRIND ? 4 : CONNECTIONS, n)), '-a', String(n), '-t', '600',
    '-H', `authorization=Bearer ${token}`, `${s.url}/auth/user`]);
  const r = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as
    { requests: { total: number }; non2xx: number; errors: number; timeouts: number; duration: number; '2xx': number };
  // The warm-up may see a few refusals (under callgrind the first, still uninstrumented-then-retranslated requests can
  // outlast the database client's timeouts); a measured window may not.
  if (!o.warmup && (r['2xx'] !== n || r.non2xx > 0 || r.errors > 0)) {
    throw new Error(`${s.name}: ${r['2xx']} of ${n} requests answered 200 (${r.non2xx} non-2xx, ${r.errors} errors); the figure would not measure the route`);
  }
  return n / r.duration;
}

async function scrape(s: ServerProc): Promise<void> {
  const r = await fetch(s.metricsUrl!);
  const text = await r.text();
  if (r.status !== 200 || !text.includes('authplane_http_requests_total{route="/auth/user"')) {
    throw new Error(`${s.name}: /metrics answered ${r.status} without the request counter of /auth/user`);
  }
}

interface Side { s: ServerProc; token: string; perReq: WindowCost[]; reqPerSec: number[] }

const fmtPct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

export default async function metricsBench(): Promise<BenchRow[]> {
  const unit = CALLGRIND ? 'instructions' : 'CPU µs';
  process.stdout.write(`  ${CALLGRIND ? 'callgrind: ' : ''}two server processes (metrics off, on), backend ${BACKEND}; ${ROUNDS} alternating rounds of ${N} requests after ${WARMUP} warm-up requests each\n`);
  const startTimeoutMs = CALLGRIND ? 3_600_000 : 600_000;
  const servers = await Promise.allSettled([
    startServerProc({ name: 'metrics off', metrics: false, callgrind: CALLGRIND, startTimeoutMs }),
    startServerProc({ name: 'metrics on', metrics: true, callgrind: CALLGRIND, startTimeoutMs }),
  ]);
  try {
    const failed = servers.find((x) => x.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [offS, onS] = servers.map((x) => (x as PromiseFulfilledResult<ServerProc>).value) as [ServerProc, ServerProc];
    const off: Side = { s: offS, token: await bearerToken(offS), perReq: [], reqPerSec: [] };
    const on: Side = { s: onS, token: await bearerToken(onS), perReq: [], reqPerSec: [] };
    await Promise.all([offS.instrument(), onS.instrument()]);
    // Under callgrind the two processes are driven at the same time (instruction counts do not depend on
    // what else runs); CPU time is measured one server at a time, so the two never compete for a core.
    const both = async (f: (x: Side) => Promise<void>, order: Side[]) => {
      if (CALLGRIND) await Promise.all(order.map(f));
      else for (const x of order) await f(x);
    };
    await both(async (x) => { await drive(x.s, x.token, WARMUP, { warmup: true }); }, [off, on]);
    await scrape(on.s);

    const idle = new Map<Side, WindowCost>();
    await both(async (x) => { idle.set(x, await x.s.window(() => new Promise((r) => setTimeout(r, 1000)))); }, [off, on]);
    const scrapeCost = await on.s.window(() => scrape(on.s));

    const ratios: number[] = [];
    const rpsRatios: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await both(async (x) => {
        let rps = 0;
        const c = await x.s.window(async () => { rps = await drive(x.s, x.token, N); });
        x.perReq.push({ cpuUs: c.cpuUs / N, instructions: c.instructions === undefined ? undefined : c.instructions / N });
        x.reqPerSec.push(rps);
      }, i % 2 === 0 ? [off, on] : [on, off]);
      await scrape(on.s);
      const cost = (x: Side) => (CALLGRIND ? x.perReq[i]!.instructions! : x.perReq[i]!.cpuUs);
      ratios.push(cost(on) / cost(off));
      rpsRatios.push(on.reqPerSec[i]! / off.reqPerSec[i]!);
      if (process.env.BENCH_VERBOSE) {
        process.stderr.write(`  round ${i + 1}: off ${cost(off).toFixed(1)}, on ${cost(on).toFixed(1)} ${unit}/req (on/off ${ratios[i]!.toFixed(3)}); ` +
          `req/s off ${Math.round(off.reqPerSec[i]!)}, on ${Math.round(on.reqPerSec[i]!)}\n`);
      }
    }
    const costOf = (x: Side) => median(x.perReq.map((c) => (CALLGRIND ? c.instructions! : c.cpuUs)));
    const ratio = median(ratios);
    const rpsRatio = median(rpsRatios);
    const cpuRatio = median(on.perReq.map((c, i) => c.cpuUs / off.perReq[i]!.cpuUs));
    const [lo, hi] = [Math.min(...ratios), Math.max(...ratios)];
    const f = (v: number) => (CALLGRIND ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
    const out = (l: string) => process.stdout.write(`  ${l}\n`);
    out(`primary — ${unit} per bearer GET /auth/user (server process, median of ${ROUNDS} rounds): off ${f(costOf(off))}, on ${f(costOf(on))}`);
    out(`  on/off ${ratio.toFixed(3)} (median of per-round ratios; rounds ${lo.toFixed(3)}–${hi.toFixed(3)}, spread ${((hi - lo) * 100).toFixed(1)} points)`);
    if (CALLGRIND) out(`  CPU time per request in the same windows (under valgrind): on/off ${cpuRatio.toFixed(3)}`);
    const idleOf = (x: Side) => (CALLGRIND ? idle.get(x)!.instructions! : idle.get(x)!.cpuUs);
    // The windows also hold the background work of their duration (N ÷ req/s seconds): its share, and the ratio without it.
    const background = (x: Side, i: number) => idleOf(x) * (N / x.reqPerSec[i]!) / N;
    const net = (x: Side, i: number) => (CALLGRIND ? x.perReq[i]!.instructions! : x.perReq[i]!.cpuUs) - background(x, i);
    const netRatio = median(on.perReq.map((_, i) => net(on, i) / net(off, i)));
    out(`background (a 1 s window, no requests): off ${f(idleOf(off))}, on ${f(idleOf(on))} ${unit} per second — ` +
      `${(100 * median(on.perReq.map((_, i) => background(on, i) / (net(on, i) + background(on, i))))).toFixed(2)} % of a round's cost; on/off without it ${netRatio.toFixed(3)}`);
    out(`one Prometheus scrape of /metrics: ${f(CALLGRIND ? scrapeCost.instructions! : scrapeCost.cpuUs)} ${unit} ≈ ${((CALLGRIND ? scrapeCost.instructions! : scrapeCost.cpuUs) / costOf(off)).toFixed(0)} requests' worth (per scrape, not per request)`);
    out(`secondary — req/s (N ÷ run time, median of ${ROUNDS} rounds): off ${Math.round(median(off.reqPerSec))}, on ${Math.round(median(on.reqPerSec))}, on/off ${rpsRatio.toFixed(3)} (rounds ${Math.min(...rpsRatios).toFixed(3)}–${Math.max(...rpsRatios).toFixed(3)})`);
    const pass = ratio <= LIMIT;
    out(`${pass ? 'PASS' : 'FAIL'}: metrics add ${fmtPct(ratio)} ${CALLGRIND ? 'instructions' : 'CPU time'} per bearer GET /auth/user (limit +${((LIMIT - 1) * 100).toFixed(0)} %)`);
    const label = CALLGRIND ? 'instructions' : 'CPU';
    return [
      { name: `bearer GET /auth/user, metrics on (${label}/req)`, reqPerSec: median(on.reqPerSec), ratio: 1 / ratio, target: +(1 / LIMIT).toFixed(3),
        cpuUsPerReq: median(on.perReq.map((c) => c.cpuUs)), note: `off/on ${label} per request, ${pass ? 'PASS' : 'FAIL'}` },
      { name: 'bearer GET /auth/user, metrics on (req/s)', reqPerSec: median(on.reqPerSec), ratio: rpsRatio, target: null,
        cpuUsPerReq: median(on.perReq.map((c) => c.cpuUs)), note: `on/off req/s, secondary; off ${Math.round(median(off.reqPerSec))} req/s` },
    ];
  } finally {
    await Promise.all(servers.map((x) => (x.status === 'fulfilled' ? x.value.close() : undefined)));
  }
}
