import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BACKEND } from './lib.js';

/**
 * One Authplane server as its own process, started the way an operator starts it (`src/main.ts serve`,
 * configured by the environment), for bench/metrics.bench.ts: the load generator and the harness live
 * in other processes, so the server's CPU time (and, under callgrind, its instruction count) is the
 * server's alone. bench/metrics-marks.mjs is preloaded into it and opens/closes measured windows on
 * command (`window()`).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A free TCP port on 127.0.0.1 (bound, read, released: the server takes it a moment later). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', resolve); });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/**
 * `callgrind_control -i on <pid>` (through vgdb). vgdb finds the process by a file name made of the pid, $LOGNAME or
 * $USER, and $HOST as valgrind saw them: the server runs with HOST=127.0.0.1 and neither user variable, so this does too.
 */
async function instrumentationOn(pid: number): Promise<void> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('callgrind_control', ['-i', 'on', String(pid)], { env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    c.stdout.on('data', (d) => { text += d; });
    c.stderr.on('data', (d) => { text += d; });
    c.once('error', reject);
    c.once('exit', () => resolve(text));
  });
  if (!/\bOK\b/.test(out)) throw new Error(`callgrind_control -i on ${pid} failed: ${out.trim()}`);
}

/** What one measured window cost the server. */
export interface WindowCost {
  /** user + system CPU time of the whole server process (every thread), µs */
  cpuUs: number;
  /** instructions callgrind counted in the window (callgrind only; see StartOptions.callgrindScope) */
  instructions?: number;
  /** the window's wall time, ms: the background work it holds grows with it */
  wallMs: number;
}

export interface ServerProc {
  name: string;
  url: string;
  /** the METRICS_PORT listener's /metrics URL, when metrics are on */
  metricsUrl?: string;
  pid: number;
  /**
   * Under callgrind, switches instrumentation on (the start ran without it); call it after the slow setup
   * (a sign-up's argon2 and audit writes, whose client-side query timeouts an instrumented server can miss).
   */
  instrument(): Promise<void>;
  /** Runs `fn` inside a measured window and returns what the window cost the server. */
  window(fn: () => Promise<void>): Promise<WindowCost>;
  close(): Promise<void>;
}

export interface StartOptions {
  name: string;
  metrics: boolean;
  /** run under `valgrind --tool=callgrind` (instructions are counted; everything is ~50× slower) */
  callgrind?: boolean;
  /**
   * What callgrind counts: `requests` (default) only the event loop's I/O and check phases (`uv__io_poll`,
   * `uv__run_check`: every socket read and write of a request, the database and Redis answers, the promise
   * jobs and setImmediate callbacks they run, and the GC work they trigger on the main thread); `process`
   * every instruction of every thread, timers and V8's helper threads included.
   */
  callgrindScope?: 'requests' | 'process';
  env?: Record<string, string>;
  /** how long to wait for the server to answer /health */
  startTimeoutMs?: number;
}

/** Starts `src/main.ts serve` on the bench backend (BENCH_BACKEND) with a fresh database of its own. */
export async function startServerProc(o: StartOptions): Promise<ServerProc> {
  const tag = randomBytes(5).toString('hex');
  const tmp = mkdtempSync(path.join(os.tmpdir(), `ap-bench-metrics-${o.name.replace(/\W+/g, '-')}-`));
  const cleanups: (() => Promise<void>)[] = [async () => rmSync(tmp, { recursive: true, force: true })];
  const port = await freePort();
  const metricsPort = o.metrics ? await freePort() : undefined;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    AUTH_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    RATE_LIMIT_DEFAULT: '1000000/60',
    ...(metricsPort !== undefined ? { METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' } : {}),
    ...o.env,
  };
  if (BACKEND === 'services') {
    const db = `ap_bench_${tag}`;
    await admin(`CREATE DATABASE ${db}`);
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
    env.DATABASE_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${db}`);
    env.REDIS_URL = REDIS_URL;
    env.KV_PREFIX = `apbench-${tag}:`;
  } else {
    env.DATA_DIR = path.join(tmp, 'data');
  }
  const nodeArgs = ['--import', 'tsx', '--import', './bench/metrics-marks.mjs', 'src/main.ts', 'serve'];
  const cgOut = path.join(tmp, 'callgrind.out');
  const [cmd, args] = o.callgrind
    // --instr-atstart=no: the start (module loading, migrations) runs uninstrumented, ~10× faster; instrumentation
    // is switched on once the server answers (callgrind_control -i on), well before the warm-up.
    ? ['valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${cgOut}.%p`, '--zero-before=node::credentials::GetEGid*',
      '--dump-before=node::credentials::GetGid*',
      // Timers (uv__run_timers: the event-loop-delay monitor's 10 ms tick, pollers, resyncs) and V8's helper threads (JIT,
      // concurrent GC) run on wall time, not per request; under valgrind they are most of a window's instructions.
      ...((o.callgrindScope ?? 'requests') === 'requests' ? ['--collect-atstart=no', '--toggle-collect=uv__io_poll', '--toggle-collect=uv__run_check'] : []),
      process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child: ChildProcess = spawn(cmd, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const marks: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('@mark ')) marks.shift()?.(line.slice(6));
  });
  const mark = (cmd: 'zero' | 'dump') => new Promise<string>((resolve, reject) => {
    marks.push(resolve);
    exited.then((code) => reject(new Error(`${o.name}: server exited (${code}) during a window: ${stderr}`)));
    child.stdin!.write(`${cmd}\n`);
  });
  const url = `http://127.0.0.1:${port}`;
  let dumps = 0;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), o.callgrind ? 120_000 : 10_000);
      await exited;
      clearTimeout(t);
    }
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
    for (;;) {
      const ok = await fetch(`${url}/auth/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${o.name}: server exited at start: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`${o.name}: server did not answer /auth/health within ${o.startTimeoutMs ?? 60_000} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, o.callgrind ? 2000 : 100));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    name: o.name,
    url,
    metricsUrl: metricsPort !== undefined ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
    pid: child.pid!,
    instrument: async () => { if (o.callgrind) await instrumentationOn(child.pid!); },
    async window(fn) {
      await mark('zero');
      const t0 = performance.now();
      await fn();
      const wallMs = performance.now() - t0;
      const cpuUs = Number((await mark('dump')).split(' ')[1]);
      dumps += 1;
      if (!o.callgrind) return { cpuUs, wallMs };
      // --dump-before writes <out>.<pid>.<n>, n counting from 1: the n-th window's instructions since its zero.
      const file = `${cgOut}.${child.pid}.${dumps}`;
      const summary = /^summary:\s*(\d+)/m.exec(readFileSync(file, 'utf8'));
      if (!summary) throw new Error(`${o.name}: no summary line in ${file} (${readdirSync(tmp).join(', ')})`);
      rmSync(file, { force: true });
      return { cpuUs, wallMs, instructions: Number(summary[1]) };
    },
    close,
  };
}
