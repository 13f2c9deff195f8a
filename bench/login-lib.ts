import argon2 from 'argon2';
import { AUTOCANNON, runAutocannon } from './lib.js';

export interface RawVerifyResult {
  opsPerSec: number;
  ops: number;
  /** process CPU µs per verify (the libuv threads doing argon2 included) */
  cpuUsPerOp: number;
}

/**
 * The library's own ceiling: `argon2.verify` of one hash, `inFlight` calls at a time for `seconds`,
 * in this process, with nothing else on the event loop. Each finished call starts the next one, as
 * the service's pool hands a freed slot to the next waiting login.
 */
export async function rawVerifyRate(hash: string, password: string, o: { inFlight: number; seconds: number; warmupS?: number }): Promise<RawVerifyResult> {
  const run = async (seconds: number) => {
    const end = performance.now() + seconds * 1000;
    let ops = 0;
    const worker = async () => {
      while (performance.now() < end) {
        if (!(await argon2.verify(hash, password))) throw new Error('raw argon2 verify: the password does not match its hash');
        ops += 1;
      }
    };
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.inFlight }, worker));
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { opsPerSec: ops / elapsedS, ops, cpuUsPerOp: (cpu.user + cpu.system) / ops };
  };
  if ((o.warmupS ?? 1) > 0) await run(o.warmupS ?? 1);
  return run(o.seconds);
}

export interface ProbeResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  total: number;
  /** lib.ts's LoadResult field, so that assertClean takes a probe; not measured (a probe runs beside other load) */
  cpuUsPerReq: number;
}


/**
 * A light, fixed-rate GET (autocannon in a child process, `ratePerSec` requests per second over
 * `connections` connections, latencies corrected for coordinated omission): the latency a request
 * meets, not the route's capacity. lib.ts's load() saturates the route with 32 connections, so on a
 * 2-core machine its p99 mostly says how much CPU is left, whatever else runs.
 */
export async function probe(url: string, o: { durationS: number; ratePerSec?: number; connections?: number }): Promise<ProbeResult> {
  const args = [AUTOCANNON, '-j', '-c', String(o.connections ?? 4), '-R', String(o.ratePerSec ?? 200), '-d', String(o.durationS), url];
  const out = await runAutocannon(args);
  type Out = { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  const r = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Out).pop();
  if (!r) throw new Error(`autocannon printed no result for ${url}`);
  return { reqPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors, total: r.requests.total, cpuUsPerReq: NaN };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
