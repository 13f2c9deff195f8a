import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis-connection.js';

interface Queued {
  add: (p: ChainableCommander) => void;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Sends the commands queued during one event-loop turn as one pipeline, in the turn's check phase
 * (setImmediate). Under load one turn reads many requests, each of which makes a rate-limit or session
 * call; ioredis's own auto-pipelining only joins commands of the same tick, so without this each request
 * costs its own socket write and reply read on both sides. Commands keep their order and each still runs
 * atomically on its own (a pipeline is not a transaction). For one Redis server only: a Cluster pipeline
 * must stay within one slot.
 */
export function createTurnBatcher(client: RedisClient) {
  let queue: Queued[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    const pipeline = client.pipeline();
    for (const q of batch) q.add(pipeline);
    pipeline.exec().then(
      (results) => {
        batch.forEach((q, i) => {
          const r = results?.[i];
          if (!r) q.reject(new Error('Connection is closed.'));
          else if (r[0]) q.reject(r[0]);
          else q.resolve(r[1]);
        });
      },
      (err: unknown) => { for (const q of batch) q.reject(err); },
    );
  }

  return {
    /** Queues one command (`add` puts it on the pipeline) and resolves with its reply. */
    send<T>(add: (p: ChainableCommander) => void): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ add, resolve: resolve as (v: unknown) => void, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
