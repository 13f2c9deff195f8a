import { AsyncLocalStorage } from 'node:async_hooks';
import type { TenantScope } from './scope.js';
import type { Tx } from './sql.js';

/**
 * Sees the units of work of one request just before each commits, in the same transaction, and after
 * it committed. The idempotency module uses it to write "this key's effect is committed" atomically
 * with the effect (src/modules/idempotency).
 */
export interface TxObserver {
  /** Runs inside the transaction, after its work and before COMMIT; a rejection rolls it back. */
  beforeCommit(tx: Tx, scope: TenantScope): Promise<void>;
  /** The transaction committed. */
  afterCommit(): void;
}

const storage = new AsyncLocalStorage<TxObserver>();
/** Requests being observed right now: with none, units of work do not even look up a context. */
let observing = 0;

/**
 * The observer of the calling request, if any. Costs one comparison while no request is observed
 * (nearly always: only requests carrying an Idempotency-Key are).
 */
export function currentTxObserver(): TxObserver | undefined {
  return observing === 0 ? undefined : storage.getStore();
}

/**
 * Runs `fn` (synchronously: e.g. a hook's `done`, which runs the route handler) so that every unit of work
 * it starts, directly or after any number of awaits, is seen by `observer`. Returns the function that ends
 * the observation (call it once the request is answered; later calls do nothing). Node 20's
 * AsyncLocalStorage tracks every promise while enabled, so it is enabled only while an observed request
 * is in flight and disabled again after the last one: requests without a key pay nothing.
 */
export function observeTransactions(observer: TxObserver, fn: () => void): () => void {
  observing += 1;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    observing -= 1;
    if (observing === 0) storage.disable();
  };
  try {
    storage.run(observer, fn);
  } catch (err) {
    end();
    throw err;
  }
  return end;
}
