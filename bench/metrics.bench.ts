import { randomUUID } from 'node:crypto';
import { AUTOCANNON, BACKEND, CONNECTIONS, runAutocannon, type BenchRow } from './lib.js';
import { median, medianCi, verdict, type MedianCi } from './median-ci.js';
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
 * - default: CPU time per request of the server process (user + system, every thread). On a shared VM it
 *   moves by tens of percent from round to round (cache contention and the host's scheduling are billed to
 *   the process), so it resolves 3 % only on a machine to itself.
 * - with BENCH_CALLGRIND=1: instructions per request counted by `valgrind --tool=callgrind`, independent of
 *   load. By default only the request path is counted (the event loop's I/O and check phases; timers and
 *   V8's helper threads run on wall time and, ~50× slower under valgrind, would otherwise fill the windows);
 *   BENCH_CALLGRIND_SCOPE=process counts the whole process.
 * - secondary: req/s of the same rounds (N ÷ the window's wall time), medians; it moves with the machine's load.
 *
 * Each round also holds, per server, a window without requests (before the requests in even rounds, after
 * them in odd ones): the server's background rate. A request window's cost minus that rate (the median of the
 * server's idle windows) × the window's wall time, ÷ N, is the cost per request. The figure is the median of
 * the per-round on/off ratios with a distribution-free 95 % interval (bench/median-ci.ts); the verdict is PASS
 * when the whole interval is ≤ 1.03, FAIL when it is all above, else INCONCLUSIVE.
 *
 * Prometheus is scraped after the warm-up (once in a window of its own: a scrape's cost is per scrape, not per
 * request) and after the last round, never between rounds: the garbage a scrape leaves would be collected
 * inside the next request window and, with the few requests of a callgrind window, count as theirs.
 */
const CALLGRIND = process.env.BENCH_CALLGRIND === '1';
/** Under callgrind: count only the request path (default) or the whole process (bench/metrics-proc.ts, callgrindScope). */
const SCOPE = (process.env.BENCH_CALLGRIND_SCOPE ?? 'requests') as 'requests' | 'process';
const N = Number(process.env.BENCH_METRICS_REQUESTS ?? (CALLGRIND ? 300 : 4000));
const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? (CALLGRIND ? 9 : 25));
const WARMUP = Number(process.env.BENCH_METRICS_WARMUP ?? (CALLGRIND ? 3000 : 4 * N));
/** Each round also holds one window without requests per server, this long: the background work's rate. */
const IDLE_MS = Number(process.env.BENCH_METRICS_IDLE_MS ?? (CALLGRIND ? 2000 : 500));
/** The most metrics may add to a request: on/off ≤ 1.03. */
const LIMIT = 1.03;

interface Tokens { access: string; refresh: string; at: number }

async function signIn(s: ServerProc, path: string, body: unknown): Promise<Tokens> {
  const r = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${s.name}: ${path} answered ${r.status}: ${text}`);
  const { tokens } = JSON.parse(text) as { tokens: { accessToken: string; refreshToken: string } };
  return { access: tokens.accessToken, refresh: tokens.refreshToken, at: Date.now() };
}

const bearerToken = (s: ServerProc) =>
  signIn(s, '/auth/register', { email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' });

/**
 * Access tokens live 15 minutes (the tenant default); a callgrind run lasts longer. Between windows, a token older
 * than 10 minutes is rotated with its refresh token (no password hash, so cheap even under valgrind).
 */
async function freshToken(s: ServerProc, t: Tokens): Promise<Tokens> {
  return Date.now() - t.at < 600_000 ? t : signIn(s, '/auth/refresh', { refreshToken: t.refresh });
}

/**
 * Sends exactly `n` bearer GET /auth/user to `s` (CONNECTIONS connections; 4 under callgrind, whose ~50× slower
 * event loop would otherwise leave requests queued past the database client's timeouts); every answer must be a 200. Returns req/s.
 */
async function drive(s: ServerProc, token: Tokens, n: number, o: { warmup?: boolean } = {}): Promise<number> {
  const out = await runAutocannon([AUTOCANNON, '-j', '-c', String(Math.min(CALLGRIND ? 4 : CONNECTIONS, n)), '-a', String(n), '-t', '600',
    '-H', `authorization=Bearer ${token.access}`, `${s.url}/auth/user`]);
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

interface Side { s: ServerProc; token: Tokens; windows: WindowCost[]; idle: WindowCost[]; reqPerSec: number[] }

const fmtPct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
const fmtCi = (c: MedianCi) => `${c.median.toFixed(3)} (${Math.round(c.confidence * 100)} % interval ${c.lo.toFixed(3)}–${c.hi.toFixed(3)})`;

export default async function metricsBench(): Promise<BenchRow[]> {
  const unit = CALLGRIND ? 'instructions' : 'CPU µs';
  const what = CALLGRIND ? (SCOPE === 'requests' ? 'instructions on the request path' : 'instructions of the whole process') : 'CPU time';
  process.stdout.write(`  ${CALLGRIND ? `callgrind (${SCOPE}): ` : ''}two server processes (metrics off, on), backend ${BACKEND}; ${ROUNDS} alternating rounds of ${N} requests ` +
    `and a ${IDLE_MS} ms window without requests per server, after ${WARMUP} warm-up requests each\n`);
  const startTimeoutMs = CALLGRIND ? 3_600_000 : 600_000;
  const servers = await Promise.allSettled([
    startServerProc({ name: 'metrics off', metrics: false, callgrind: CALLGRIND, callgrindScope: SCOPE, startTimeoutMs }),
    startServerProc({ name: 'metrics on', metrics: true, callgrind: CALLGRIND, callgrindScope: SCOPE, startTimeoutMs }),
  ]);
  try {
    const failed = servers.find((x) => x.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [offS, onS] = servers.map((x) => (x as PromiseFulfilledResult<ServerProc>).value) as [ServerProc, ServerProc];
    const off: Side = { s: offS, token: await bearerToken(offS), windows: [], idle: [], reqPerSec: [] };
    const on: Side = { s: onS, token: await bearerToken(onS), windows: [], idle: [], reqPerSec: [] };
    await Promise.all([offS.instrument(), onS.instrument()]);
    // Under callgrind the two processes are driven at the same time (instruction counts do not depend on
    // what else runs); CPU time is measured one server at a time, so the two never compete for a core.
    const both = async (f: (x: Side) => Promise<void>, order: Side[]) => {
      if (CALLGRIND) await Promise.all(order.map(f));
      else for (const x of order) await f(x);
    };
    await both(async (x) => { await drive(x.s, x.token, WARMUP, { warmup: true }); x.token = await freshToken(x.s, x.token); }, [off, on]);
    await scrape(on.s);
    const scrapeCost = await on.s.window(() => scrape(on.s));

    const amount = (c: WindowCost) => (CALLGRIND ? c.instructions! : c.cpuUs);
    for (let i = 0; i < ROUNDS; i++) {
      await both(async (x) => {
        const idle = () => x.s.window(() => new Promise((r) => setTimeout(r, IDLE_MS)));
        // The idle window comes before the requests in even rounds and after them in odd ones: work the requests leave
        // behind (a GC cycle finishing, the JIT) falls into half of the idle windows, not all or none.
        x.token = await freshToken(x.s, x.token);
        if (i % 2 === 0) x.idle.push(await idle());
        const w = await x.s.window(async () => { await drive(x.s, x.token, N); });
        x.windows.push(w);
        x.reqPerSec.push(N / (w.wallMs / 1000));
        if (i % 2 === 1) x.idle.push(await idle());
      }, i % 2 === 0 ? [off, on] : [on, off]);
      if (process.env.BENCH_VERBOSE) {
        const g = (x: Side) => amount(x.windows[i]!) / N;
        const b = (x: Side) => amount(x.idle[i]!) / x.idle[i]!.wallMs * 1000;
        process.stderr.write(`  round ${i + 1}: off ${g(off).toFixed(1)}, on ${g(on).toFixed(1)} ${unit}/req (on/off ${(g(on) / g(off)).toFixed(3)}); ` +
          `idle off ${Math.round(b(off))}, on ${Math.round(b(on))} ${unit}/s; req/s off ${Math.round(off.reqPerSec[i]!)}, on ${Math.round(on.reqPerSec[i]!)}\n`);
      }
    }
    // Background work runs at a rate (per second), requests cost per request: each window holds both. The rate is the
    // median of the server's idle windows (interleaved with the rounds, so it sees the same machine), and a window's
    // background is that rate × the window's wall time.
    const idleRate = (x: Side) => median(x.idle.map((c) => amount(c) / c.wallMs));
    const gross = (x: Side, i: number) => amount(x.windows[i]!) / N;
    const net = (x: Side, i: number) => (amount(x.windows[i]!) - idleRate(x) * x.windows[i]!.wallMs) / N;
    await scrape(on.s);
    const rounds = [...Array(ROUNDS).keys()];
    const netCi = medianCi(rounds.map((i) => net(on, i) / net(off, i)));
    const grossCi = medianCi(rounds.map((i) => gross(on, i) / gross(off, i)));
    const rpsRatios = rounds.map((i) => on.reqPerSec[i]! / off.reqPerSec[i]!);
    const rpsRatio = median(rpsRatios);
    const f = (v: number) => (CALLGRIND ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
    const out = (l: string) => process.stdout.write(`  ${l}\n`);
    const perReq = (x: Side, g: (x: Side, i: number) => number) => median(rounds.map((i) => g(x, i)));
    const bgShare = (x: Side) => median(rounds.map((i) => 1 - net(x, i) / gross(x, i)));
    out(`primary — ${what} per bearer GET /auth/user, background taken out (median of ${ROUNDS} rounds): off ${f(perReq(off, net))}, on ${f(perReq(on, net))}`);
    out(`  on/off ${fmtCi(netCi)}; per-round ratios ${rounds.map((i) => (net(on, i) / net(off, i)).toFixed(3)).join(' ')}`);
    out(`background (windows without requests): off ${f(idleRate(off) * 1000)}, on ${f(idleRate(on) * 1000)} ${unit} per second — ` +
      `${(100 * bgShare(off)).toFixed(1)} % (off), ${(100 * bgShare(on)).toFixed(1)} % (on) of a request window`);
    out(`  with the background left in: off ${f(perReq(off, gross))}, on ${f(perReq(on, gross))} ${unit}/req, on/off ${fmtCi(grossCi)}`);
    if (CALLGRIND) out(`  CPU time per request in the same windows (under valgrind, whole process): on/off ${median(rounds.map((i) => on.windows[i]!.cpuUs / off.windows[i]!.cpuUs)).toFixed(3)}`);
    out(`one Prometheus scrape of /metrics: ${f(amount(scrapeCost))} ${unit} ≈ ${(amount(scrapeCost) / perReq(off, net)).toFixed(0)} requests' worth (per scrape, not per request)`);
    out(`secondary — req/s (N ÷ the window's wall time, median of ${ROUNDS} rounds): off ${Math.round(median(off.reqPerSec))}, on ${Math.round(median(on.reqPerSec))}, on/off ${rpsRatio.toFixed(3)} (rounds ${Math.min(...rpsRatios).toFixed(3)}–${Math.max(...rpsRatios).toFixed(3)})`);
    const v = verdict(netCi, LIMIT);
    const limitPct = `+${((LIMIT - 1) * 100).toFixed(0)} %`;
    out(v === 'INCONCLUSIVE'
      ? `INCONCLUSIVE: metrics add ${fmtPct(netCi.median)} ${what} per bearer GET /auth/user, but the ${Math.round(netCi.confidence * 100)} % interval ${fmtPct(netCi.lo)} … ${fmtPct(netCi.hi)} ` +
        `${netCi.confidence < 0.95 ? 'is below 95 % confidence (too few rounds)' : 'straddles the limit'} (${limitPct})`
      : `${v}: metrics add ${fmtPct(netCi.median)} ${what} per bearer GET /auth/user (${Math.round(netCi.confidence * 100)} % interval ${fmtPct(netCi.lo)} … ${fmtPct(netCi.hi)}; limit ${limitPct})`);
    const label = CALLGRIND ? 'instructions' : 'CPU';
    return [
      { name: `bearer GET /auth/user, metrics on (${label}/req)`, reqPerSec: median(on.reqPerSec), ratio: 1 / netCi.median, target: +(1 / LIMIT).toFixed(3),
        cpuUsPerReq: median(on.windows.map((c) => c.cpuUs / N)), note: `off/on ${label} per request, ${v}` },
      { name: 'bearer GET /auth/user, metrics on (req/s)', reqPerSec: median(on.reqPerSec), ratio: rpsRatio, target: null,
        cpuUsPerReq: median(on.windows.map((c) => c.cpuUs / N)), note: `on/off req/s, secondary; off ${Math.round(median(off.reqPerSec))} req/s` },
    ];
  } finally {
    await Promise.all(servers.map((x) => (x.status === 'fulfilled' ? x.value.close() : undefined)));
  }
}
