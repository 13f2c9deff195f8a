import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DURATION_S, runAutocannon, startApp, type BenchRow } from './lib.js';
import { sleep } from './login-lib.js';

/**
 * The hash pool's fairness (issue 25): real users' `POST /auth/login` (the right password, each user from
 * their own address) at a light fixed rate, alone, then while a flood of unknown-email logins from
 * FLOOD_ADDRESSES client addresses keeps FLOOD_CONNECTIONS requests in flight — an attacker behind a
 * botnet, spread through TRUST_PROXY=1 and X-Forwarded-For on loopback. Every limit is the default
 * (RATE_LIMIT_CREDENTIAL 20/60 per address, RATE_LIMIT_ACCOUNT 10/900, the pool's own), so the figure is
 * what an operator gets. Target: ≥ 95 % of the real users' logins succeed under the flood (before the
 * fairness work: 1 in 7 did). The p99s are informational; on a 2-core machine they move with neighbours.
 * Alone: `npm run bench -- hash-pool`. BENCH_FLOOD_CONNECTIONS / BENCH_FLOOD_ADDRESSES to change the flood.
 */
const FLOOD_CONNECTIONS = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 300);
const FLOOD_ADDRESSES = Number(process.env.BENCH_FLOOD_ADDRESSES ?? 3000);
/** Real users' logins per second (round robin over USERS users, each from its own address): light, and under each address's 20/60. */
const USER_RATE = 2;
const USERS = 4;
/** Seconds of real users' logins per phase: at least 8 (16 logins), so that a p99 means something. */
const USERS_S = Math.max(8, DURATION_S);
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'login-flood-client.mjs');

interface UsersResult { latenciesMs: number[]; statuses: Record<string, number> }
interface FloodResult { total: number; reqPerSec: number; errors: number; statuses: Record<string, number> }

const client = async <T>(cfg: Record<string, unknown>): Promise<T> => {
  const out = await runAutocannon([CLIENT, JSON.stringify(cfg)]);
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`the login client printed nothing for ${String(cfg.mode)}`);
  return JSON.parse(line) as T;
};

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

const summary = (r: UsersResult) => {
  const total = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  const ok = r.statuses['200'] ?? 0;
  return { total, ok, statuses: r.statuses, rate: total ? ok / total : 0, p50: quantile(r.latenciesMs, 0.5), p99: quantile(r.latenciesMs, 0.99) };
};
const statusText = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${v}×${k}`).join(' ');

export default async function hashPoolBench(): Promise<BenchRow[]> {
  const pool: Record<string, string> = process.env.ARGON2_MAX_CONCURRENCY ? { ARGON2_MAX_CONCURRENCY: process.env.ARGON2_MAX_CONCURRENCY } : {};
  // TRUST_PROXY=1 stands for a deployment behind a proxy, where every connection comes from the proxy's
  // address: as README advises there, the per-address connection cap is off (the flood's 300 loopback
  // connections would otherwise take the 256 places and refuse the real users' connections).
  const app = await startApp({ env: { TRUST_PROXY: '1', MAX_CONNECTIONS_PER_ADDRESS: '0', ...pool } });
  try {
    const { hasher } = app.deps.services;
    const password = 'correct horse battery staple';
    const users = [];
    for (let i = 0; i < USERS; i += 1) {
      const email = `bench-user-${i}-${Date.now()}@example.com`;
      const reg = await app.app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password }) });
      if (reg.statusCode !== 200) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
      users.push({ email, password, ip: `198.51.100.${10 + i}` });
    }
    const url = `${app.url}/auth/login`;
    const drained = async () => {
      const deadline = Date.now() + 60_000;
      for (let s = hasher.stats(); s.running > 0 || s.waiting > 0; s = hasher.stats()) {
        if (Date.now() > deadline) throw new Error('the hash pool did not drain');
        await sleep(50);
      }
      await sleep(200);
    };

    // 1. Alone (also the warm-up of the login path).
    const alone = summary(await client<UsersResult>({ mode: 'users', url, durationS: USERS_S, ratePerSec: USER_RATE, users }));

    // 2. The flood runs 1 s longer on each side of the users' run, so they meet it already at full height.
    const floodRun = client<FloodResult>({ mode: 'flood', url, connections: FLOOD_CONNECTIONS, durationS: USERS_S + 2, addresses: FLOOD_ADDRESSES, password: 'wrong password, unknown email' });
    floodRun.catch(() => {}); // awaited below
    await sleep(1000);
    const statsBefore = hasher.stats() as unknown as Record<string, number>;
    const flooded = summary(await client<UsersResult>({ mode: 'users', url, durationS: USERS_S, ratePerSec: USER_RATE, users }));
    const stats = hasher.stats() as unknown as Record<string, number>;
    const flood = await floodRun;
    await drained();

    const r = (n: number) => Math.round(n);
    const wait = stats.waitP99Ms === undefined ? '' : `; pool wait p50 ${r(stats.waitP50Ms!)} ms, p99 ${r(stats.waitP99Ms)} ms`;
    const shed = stats.timedDummies === undefined ? '' : `; ${stats.timedDummies - (statsBefore.timedDummies ?? 0)} dummy verifications timed, not run`;
    return [
      {
        name: `real users' POST /auth/login, ${USER_RATE}/s, alone (pool ${app.deps.config.argon2MaxConcurrency})`, reqPerSec: alone.ok / USERS_S, ratio: alone.rate, target: null, p99Ms: alone.p99,
        note: `ratio = success rate (${alone.ok}/${alone.total}); p50 ${r(alone.p50)} ms, p99 ${r(alone.p99)} ms`,
      },
      {
        name: `same, under an unknown-email flood (${FLOOD_CONNECTIONS} conns, ${FLOOD_ADDRESSES} addresses)`, reqPerSec: flooded.ok / USERS_S, ratio: flooded.rate, target: 0.95, p99Ms: flooded.p99,
        note: `ratio = success rate (${flooded.ok}/${flooded.total}; ${statusText(flooded.statuses)}); p50 ${r(flooded.p50)} ms, p99 ${r(flooded.p99)} ms; `
          + `flood ${r(flood.reqPerSec)} req/s: ${statusText(flood.statuses)}${shed}${wait}`,
      },
    ];
  } finally {
    await app.close();
  }
}
