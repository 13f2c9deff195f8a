import argon2 from 'argon2';
import { randomInt } from 'node:crypto';
import { AppError } from '../../http/errors.js';
import { argon2Wait, hashPools } from '../metrics/registry.js';
import { traceHash } from '../tracing/spans.js';
import { tracingSwitch } from '../tracing/tracing.js';

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1); hashes made with less are upgraded at the next login. */
export const ARGON2_PARAMS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** Waiting hash jobs beyond this are refused with 503 rather than queued without bound (SECURITY AV-04). */
export const ARGON2_MAX_QUEUE = 256;
/** ARGON2_DUMMY_QUEUE's default: dummy verifications (unknown accounts) that may wait in the queue. */
export const ARGON2_DUMMY_QUEUE = 4;
/** ARGON2_QUEUE_PER_CLIENT's default: jobs one client address may have in the pool (running, waiting or timed). */
export const ARGON2_QUEUE_PER_CLIENT = 8;
/** Dummy verifications answered after a timed wait, at most, at once; beyond that a dummy gets 503 (the memory bound of held requests). */
export const ARGON2_MAX_TIMED = 4096;
/** How many recent jobs the wait and latency figures are taken from. */
const SAMPLES = 512;

export type PasswordHasher = Awaited<ReturnType<typeof createPasswordHasher>>;

/** Who a job is for: the canonical client key (rate-limit clientKey) of the request, when there is one. */
export interface JobOptions {
  client?: string;
}

/** The pool's counters and recent queue wait (tests count operations; an unknown email must cost what a known one does). */
export interface HasherStats {
  hashes: number;
  /** verifications of a stored hash that ran */
  verifies: number;
  /** dummy verifications that ran */
  dummyVerifies: number;
  /** dummy verifications answered after a wait drawn from recent jobs instead of run (the dummy budget was full) */
  timedDummies: number;
  /** jobs refused with 503 (queue full, or the client address over its share) */
  rejected: number;
  running: number;
  waiting: number;
  /** of `waiting`, dummy verifications (at most the dummy budget) */
  waitingDummies: number;
  /** timed dummy verifications not yet answered */
  held: number;
  /** jobs that got a slot since start (what the wait figures are about) */
  started: number;
  /** queue wait of the last 512 jobs that got a slot, median and 99th percentile, ms (0 when none yet) */
  waitP50Ms: number;
  waitP99Ms: number;
}

/** A fixed-size ring of recent samples. */
function ring(size: number) {
  const xs: number[] = [];
  let next = 0;
  return {
    push(x: number) {
      if (xs.length < size) xs.push(x);
      else xs[next] = x;
      next = (next + 1) % size;
    },
    /** one recorded sample at random (undefined when empty) */
    pick: (): number | undefined => (xs.length ? xs[randomInt(xs.length)] : undefined),
    quantile(q: number): number {
      if (xs.length === 0) return 0;
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
    },
  };
}

interface Waiter {
  start: () => void;
  dummy: boolean;
}

/**
 * argon2id off the event loop (libuv threads), with at most `concurrency` jobs in flight so memory stays
 * bounded at about concurrency × 19 MiB (ARGON2_MAX_CONCURRENCY, default cores − 1: ~19 MiB on 2 cores), and at most
 * `maxQueue` jobs waiting (each holds only its password), first come first served; beyond that a job fails at
 * once with 503 unavailable. A dummy hash lets unknown accounts cost the same as known ones.
 *
 * Fairness (issue 25, docs/decisions.md "Hash pool fairness"):
 * - **Dummy budget.** At most `dummyQueue` dummy verifications wait in the queue. A dummy that would wait
 *   beyond that is not run: it answers `false` after a wait drawn from the latencies (wait + run) of recent
 *   jobs, i.e. when a queued verification would have answered. So a flood of unknown emails occupies a few
 *   places of the queue and no CPU beyond them, a known account's verification waits behind at most those,
 *   and neither the answer (401) nor its timing tells the flood's unknown emails from known ones.
 * - **Per-client share.** A client address has at most `perClient` jobs in the pool (running, waiting or
 *   timed); beyond that its jobs get 503 at once, whatever kind they are. Jobs without a client (authenticated
 *   flows) are not counted.
 * The share and the queue refuse every kind of job alike, so such a 503 says nothing about the account
 * either. Only past `maxTimed` timed dummies at once (the memory bound of the requests they hold) does a
 * dummy get 503 where a known account's job would still queue.
 */
export async function createPasswordHasher(opts: {
  concurrency: number; maxQueue?: number; dummyQueue?: number; perClient?: number; maxTimed?: number;
  params?: Partial<{ memoryCost: number; timeCost: number; parallelism: number }>;
}) {
  const params = { ...ARGON2_PARAMS, ...opts.params };
  const maxQueue = opts.maxQueue ?? ARGON2_MAX_QUEUE;
  const dummyQueue = opts.dummyQueue ?? ARGON2_DUMMY_QUEUE;
  const perClient = opts.perClient ?? ARGON2_QUEUE_PER_CLIENT;
  const maxTimed = opts.maxTimed ?? ARGON2_MAX_TIMED;
  let running = 0;
  let waitingDummies = 0;
  let held = 0;
  const waiting: Waiter[] = [];
  const clients = new Map<string, number>();
  const counts = { hashes: 0, verifies: 0, dummyVerifies: 0, timedDummies: 0, rejected: 0, started: 0 };
  const waits = ring(SAMPLES);
  const latencies = ring(SAMPLES);

  const busy = () => new AppError('unavailable', 'The server is busy verifying passwords; try again shortly.');
  const refuse = () => {
    counts.rejected++;
    throw busy();
  };
  const release = (client: string | undefined) => {
    if (client === undefined) return;
    const n = (clients.get(client) ?? 1) - 1;
    if (n <= 0) clients.delete(client);
    else clients.set(client, n);
  };

  async function slot<T>(o: { dummy: boolean; kind: 'hash' | 'verify'; client?: string }, fn: () => Promise<T>, timed?: () => T): Promise<T> {
    const { client } = o;
    if (client !== undefined && (clients.get(client) ?? 0) >= perClient) refuse();
    const enqueued = performance.now();
    if (running < opts.concurrency) {
      running++;
    } else {
      if (waiting.length >= maxQueue) refuse();
      if (o.dummy && waitingDummies >= dummyQueue) {
        if (!timed || held >= maxTimed) refuse();
        // Answer when a queued verification would have, without running one.
        if (client !== undefined) clients.set(client, (clients.get(client) ?? 0) + 1);
        held++;
        counts.timedDummies++;
        try {
          await new Promise<void>((resolve) => setTimeout(resolve, latencies.pick() ?? 0));
          return timed!();
        } finally {
          held--;
          release(client);
        }
      }
      if (client !== undefined) clients.set(client, (clients.get(client) ?? 0) + 1);
      if (o.dummy) waitingDummies++;
      await new Promise<void>((resolve) => waiting.push({ start: resolve, dummy: o.dummy }));
      return run();
    }
    if (client !== undefined) clients.set(client, (clients.get(client) ?? 0) + 1);
    return run();

    async function run(): Promise<T> {
      counts.started++;
      const waited = performance.now() - enqueued;
      waits.push(waited);
      argon2Wait.observe(waited / 1000);
      try {
        return await (tracingSwitch.on ? traceHash(o.kind, waited, fn) : fn());
      } finally {
        latencies.push(performance.now() - enqueued);
        release(client);
        // Hand the slot to the next waiter (running stays the same) or release it.
        const next = waiting.shift();
        if (next) {
          if (next.dummy) waitingDummies--;
          next.start();
        } else {
          running--;
        }
      }
    }
  }

  const dummyHash = await argon2.hash('authplane-dummy-password-for-unknown-accounts', params);
  // One verification's time, so that a timed dummy has something to wait before any job has run.
  {
    const t0 = performance.now();
    await argon2.verify(dummyHash, 'warm-up').catch(() => false);
    latencies.push(performance.now() - t0);
  }

  // authplane_argon2_pool_size / _running / _queue_length, read at scrape time; removed by `close`.
  const removeReading = hashPools.add(() => ({ size: opts.concurrency, running, waiting: waiting.length }));

  return {
    params,
    hash: (password: string, o: JobOptions = {}) => slot({ dummy: false, kind: 'hash', client: o.client }, () => { counts.hashes++; return argon2.hash(password, params); }),
    /** true when `password` matches; a malformed stored hash counts as a mismatch. */
    verify: (hash: string, password: string, o: JobOptions = {}) => slot({ dummy: false, kind: 'verify', client: o.client }, async () => {
      counts.verifies++;
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    }),
    /**
     * Burns the same work as a real verification (for unknown, disabled or password-less accounts), or,
     * when the dummy budget is full, waits as long as a queued verification would and answers the same.
     */
    verifyDummy: (password: string, o: JobOptions = {}) => slot({ dummy: true, kind: 'verify', client: o.client }, async () => {
      counts.dummyVerifies++;
      await argon2.verify(dummyHash, password).catch(() => false);
      return false as const;
    }, () => false as const),
    needsRehash: (hash: string) => {
      try {
        return argon2.needsRehash(hash, { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism });
      } catch {
        return true;
      }
    },
    /** Stops reporting this pool's gauges (the services' stop). */
    close: () => removeReading(),
    /** Counters since start and the recent queue wait (for tests, logs and a metrics exporter). */
    stats: (): HasherStats => ({
      ...counts, running, waiting: waiting.length, waitingDummies, held,
      waitP50Ms: waits.quantile(0.5), waitP99Ms: waits.quantile(0.99),
    }),
  };
}
