import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { buildApp } from '../src/server.js';
import { createPgliteSql } from '../src/db/pglite.js';
import { createPgSql } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { createMemoryKv } from '../src/kv/memory.js';
import { createRedisKv } from '../src/kv/redis.js';
import { createLogger } from '../src/http/logger.js';
import type { ModuleDef } from '../src/modules/module.js';

/**
 * The benchmark harness (PERFORMANCE.md): apps on real ports, loaded by autocannon running in a
 * child process (32 connections), every figure compared with a bare Fastify JSON route served by
 * the same process in the same run. BENCH_BACKEND=services runs the app on Postgres + Redis
 * (BENCH_PG_ADMIN_URL, BENCH_REDIS_URL), otherwise on in-memory PGlite and the in-process store.
 */
export const BACKEND = (process.env.BENCH_BACKEND ?? 'embedded') as 'embedded' | 'services';
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
// 4 s per figure keeps `npm run bench` (every bench file) near two minutes; BENCH_DURATION for longer runs.
export const DURATION_S = Number(process.env.BENCH_DURATION ?? 4);
const WARMUP_S = 1;
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/** One line of the result table. */
export interface BenchRow {
  name: string;
  reqPerSec: number;
  /** reqPerSec divided by the bare route's in the same run */
  ratio: number;
  /** the ratio PERFORMANCE.md asks for (null: informational) */
  target: number | null;
  p99Ms?: number;
  /** server CPU µs per request (see LoadResult) */
  cpuUsPerReq?: number;
  note?: string;
}

export interface Running {
  url: string;
  app: FastifyInstance;
  deps: Deps;
  close(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Builds the whole app (buildApp) on the bench backend and listens on a free port of 127.0.0.1. */
export async function startApp(o: { env?: Record<string, string>; extraModules?: ModuleDef[] } = {}): Promise<Running> {
  const config = loadConfig({ AUTH_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef', LOG_LEVEL: 'silent', PUBLIC_URL: 'http://127.0.0.1:1', ...o.env });
  const tag = randomBytes(5).toString('hex');
  let dropDb = async () => {};
  let sql;
  let kv;
  if (BACKEND === 'services') {
    const db = `ap_bench_${tag}`;
    await adminQuery(`CREATE DATABASE ${db}`);
    dropDb = () => adminQuery(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    sql = createPgSql(PG_ADMIN_URL.replace(/\/[^/]*$/, `/${db}`));
    kv = await createRedisKv(REDIS_URL, { prefix: `apbench-${tag}:` });
  } else {
    sql = await createPgliteSql();
    kv = createMemoryKv({ prefix: `apbench-${tag}:` });
  }
  await migrate(sql);
  const deps = await createDeps(config, { sql, kv, log: createLogger('silent') });
  const app = await buildApp(config, { deps, extraModules: o.extraModules });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    deps,
    async close() {
      await app.close();
      await deps.close();
      await kv.close().catch(() => {});
      await sql.close().catch(() => {});
      await dropDb().catch(() => {});
    },
  };
}

/** A bare Fastify app with one route returning a small JSON object: the ceiling every ratio is against. */
export async function startBaseline(): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/bare', async () => ({ ok: true, service: 'baseline' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/bare`, close: () => app.close() };
}

export interface LoadResult {
  reqPerSec: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  total: number;
  /**
   * Server CPU (this process: the app and the bare route run here, autocannon does not) per request,
   * in µs, warm-up included. Unlike req/s it barely moves when other processes share the cores.
   */
  cpuUsPerReq: number;
}

/**
 * Loads `url` with autocannon in a child process (so the load generator does not share the server's
 * event loop): a short warm-up, then DURATION_S seconds with CONNECTIONS connections.
 */
export async function load(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; durationS?: number; warmupS?: number; clientNice?: number } = {}): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(CONNECTIONS), '-d', String(o.durationS ?? DURATION_S), '-m', o.method ?? 'GET'];
  const warmup = o.warmupS ?? WARMUP_S;
  if (warmup > 0) args.push('--warmup', '[', '-c', String(CONNECTIONS), '-d', String(warmup), ']');
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (o.body !== undefined) args.push('-b', o.body);
  args.push(url);
  const cpuBefore = process.cpuUsage();
  const out = await runAutocannon(args, { nice: o.clientNice });
  const cpu = process.cpuUsage(cpuBefore);
  // With --warmup autocannon prints the warm-up's JSON first, then the measured run's.
  type Out = { requests: { average: number; total: number }; latency: { p99: number }; non2xx: number; errors: number };
  const docs = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Out);
  const r = docs[docs.length - 1]!;
  const served = docs.reduce((n, d) => n + d.requests.total, 0);
  return {
    reqPerSec: r.requests.average, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors, total: r.requests.total,
    cpuUsPerReq: served > 0 ? (cpu.user + cpu.system) / served : NaN,
  };
}

/**
 * Runs autocannon (`args` after the node binary) in a child process; resolves with its stdout (JSON lines).
 * `nice`: the client's scheduling priority (os.setPriority; 19 = yields the cores to anything else runnable).
 */
export function runAutocannon(args: string[], o: { nice?: number } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (o.nice !== undefined && child.pid !== undefined) os.setPriority(child.pid, o.nice);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`autocannon exited ${code}: ${stderr}`))));
  });
}

/** Seconds each target of a pair is loaded before the measured rounds; BENCH_PAIR_WARMUP to change. */
export const PAIR_WARMUP_S = Number(process.env.BENCH_PAIR_WARMUP ?? 2);

/** Alternating rounds per pair (PERFORMANCE.md's figures are medians of 5 runs); BENCH_ROUNDS to change. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Two targets measured alternately: each one's medians, and the median of the per-round ratios b ÷ a. */
export interface PairResult {
  a: LoadResult;
  b: LoadResult;
  /** median over rounds of b's req/s ÷ a's req/s in the same round */
  ratio: number;
  /** median over rounds of a's CPU µs/req ÷ b's in the same round */
  cpuRatio: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** One side of a pair; `before` runs before each of its runs (e.g. to flip a process-wide switch). */
export interface PairSide { name: string; url: string; opts?: Parameters<typeof load>[1]; before?: () => void }

/**
 * Compares two targets fairly on a busy machine: both are warmed up first for PAIR_WARMUP_S seconds (JIT,
 * lazily compiled serializers, and the re-optimization of code shared with the previous pair: a bench
 * switching from bearer tokens to API keys measured its first second ~25 % slower), then measured alternately (a, b, a, b, …) for ROUNDS rounds of DURATION_S ÷ 2 seconds
 * each. Every round gives a ratio of two runs a few seconds apart, so a drift of the machine's speed
 * (the bare route moves ±20 % between runs on a shared VM) cancels out; the figures reported are the
 * medians. Each run must be clean (2xx only).
 */
export async function loadPair(
  a: PairSide,
  b: PairSide,
): Promise<PairResult> {
  for (const x of [a, b]) {
    x.before?.();
    await load(x.url, { ...x.opts, durationS: PAIR_WARMUP_S, warmupS: 0 });
  }
  const each = Math.max(1, Math.round(DURATION_S / 2));
  const runs: [LoadResult[], LoadResult[]] = [[], []];
  for (let i = 0; i < ROUNDS; i += 1) {
    for (const [j, x] of [a, b].entries()) {
      x.before?.();
      // Already warm: no per-run warm-up (it would only lengthen the bench).
      const r = await load(x.url, { ...x.opts, durationS: each, warmupS: 0 });
      assertClean(x.name, r);
      runs[j]!.push(r);
      if (process.env.BENCH_VERBOSE) process.stderr.write(`  round ${i + 1} ${x.name}: ${Math.round(r.reqPerSec)} req/s, ${r.cpuUsPerReq.toFixed(1)} µs/req\n`);
    }
  }
  const summary = (rs: LoadResult[]): LoadResult => ({
    reqPerSec: median(rs.map((r) => r.reqPerSec)),
    p99Ms: Math.max(...rs.map((r) => r.p99Ms)),
    non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
    errors: rs.reduce((s, r) => s + r.errors, 0),
    total: rs.reduce((s, r) => s + r.total, 0),
    cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
  });
  const [ra, rb] = runs;
  return {
    a: summary(ra),
    b: summary(rb),
    ratio: median(ra.map((r, i) => rb[i]!.reqPerSec / r.reqPerSec)),
    cpuRatio: median(ra.map((r, i) => r.cpuUsPerReq / rb[i]!.cpuUsPerReq)),
  };
}

/** Fails loudly when a run measured refusals or errors instead of the route's work. */
export function assertClean(name: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx answers and ${r.errors} errors of ${r.total}; the figure would not measure the route`);
}

/** The machine, for the README's figures. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, ${os.platform()} ${os.release()}`;
}
