import argon2 from 'argon2';
import { AppError } from '../../http/errors.js';

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1); hashes made with less are upgraded at the next login. */
export const ARGON2_PARAMS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** Waiting hash jobs beyond this are refused with 503 rather than queued without bound (SECURITY AV-04). */
export const ARGON2_MAX_QUEUE = 256;

export type PasswordHasher = Awaited<ReturnType<typeof createPasswordHasher>>;

/** How many argon2 operations ran (tests count them: an unknown email must cost what a known one does). */
export interface HasherStats {
  hashes: number;
  verifies: number;
  dummyVerifies: number;
  /** jobs refused with 503 because the queue was full */
  rejected: number;
  running: number;
  waiting: number;
}

/**
 * argon2id off the event loop (libuv threads), with at most `concurrency` jobs in flight so memory stays
 * bounded at about concurrency × 19 MiB (ARGON2_MAX_CONCURRENCY, default cores − 1: ~19 MiB on 2 cores), and at most
 * ARGON2_MAX_QUEUE jobs waiting (each holds only its password); beyond that a job fails at once with
 * 503 unavailable. A dummy hash lets unknown accounts cost the same as known ones.
 */
export async function createPasswordHasher(opts: { concurrency: number; maxQueue?: number; params?: Partial<{ memoryCost: number; timeCost: number; parallelism: number }> }) {
  const params = { ...ARGON2_PARAMS, ...opts.params };
  const maxQueue = opts.maxQueue ?? ARGON2_MAX_QUEUE;
  let running = 0;
  const waiting: (() => void)[] = [];
  const counts = { hashes: 0, verifies: 0, dummyVerifies: 0, rejected: 0 };

  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= opts.concurrency) {
      if (waiting.length >= maxQueue) {
        counts.rejected++;
        throw new AppError('unavailable', 'The server is busy verifying passwords; try again shortly.');
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await fn();
    } finally {
      // Hand the slot to the next waiter (running stays the same) or release it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  const dummyHash = await argon2.hash('authplane-dummy-password-for-unknown-accounts', params);

  return {
    params,
    hash: (password: string) => slot(() => { counts.hashes++; return argon2.hash(password, params); }),
    /** true when `password` matches; a malformed stored hash counts as a mismatch. */
    verify: (hash: string, password: string) => slot(async () => {
      counts.verifies++;
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    }),
    /** Burns the same work as a real verification (for unknown, disabled or password-less accounts). */
    verifyDummy: (password: string) => slot(async () => {
      counts.dummyVerifies++;
      await argon2.verify(dummyHash, password).catch(() => false);
      return false as const;
    }),
    needsRehash: (hash: string) => {
      try {
        return argon2.needsRehash(hash, { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism });
      } catch {
        return true;
      }
    },
    /** Counters since start (for tests and metrics). */
    stats: (): HasherStats => ({ ...counts, running, waiting: waiting.length }),
  };
}
