import argon2 from 'argon2';
import { AppError } from '../../http/errors.js';

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1); hashes made with less are upgraded at the next login. */
export const ARGON2_PARAMS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** Waiting hash jobs beyond this are refused with 503 rather than queued without bound (SECURITY AV-04). */
const MAX_QUEUE = 256;

export type PasswordHasher = Awaited<ReturnType<typeof createPasswordHasher>>;

/**
 * argon2id off the event loop (libuv threads), with at most `concurrency` jobs in flight so memory stays
 * bounded at about concurrency × 19 MiB. A dummy hash lets unknown accounts cost the same as known ones.
 */
export async function createPasswordHasher(opts: { concurrency: number; params?: Partial<typeof ARGON2_PARAMS> }) {
  const params = { ...ARGON2_PARAMS, ...opts.params };
  let running = 0;
  const waiting: (() => void)[] = [];

  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= opts.concurrency) {
      if (waiting.length >= MAX_QUEUE) throw new AppError('unavailable', 'The server is busy verifying passwords; try again shortly.');
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  const dummyHash = await argon2.hash('authplane-dummy-password-for-unknown-accounts', params);

  return {
    params,
    hash: (password: string) => slot(() => argon2.hash(password, params)),
    /** true when `password` matches; a malformed stored hash counts as a mismatch. */
    verify: (hash: string, password: string) => slot(async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    }),
    /** Burns the same work as a real verification (for unknown or password-less accounts). */
    verifyDummy: (password: string) => slot(async () => { await argon2.verify(dummyHash, password).catch(() => false); return false as const; }),
    needsRehash: (hash: string) => {
      try {
        return argon2.needsRehash(hash, { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism });
      } catch {
        return true;
      }
    },
  };
}
