import type { Unsubscribe } from './kv.js';
import { KvUnavailableError } from './kv-errors.js';
import { connectOnce, type RedisClient } from './redis-connection.js';

export interface Subscriptions {
  /** Subscribes `handler` to a full (prefixed) channel; resolves once Redis confirmed the subscription. */
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
  /** Forgets every handler; the connection itself is closed by the owner. */
  clear(): void;
}

/**
 * Dispatches messages from a dedicated subscriber connection to local handlers, subscribing each
 * channel once. ioredis re-subscribes by itself after a reconnect.
 */
export function createSubscriptions(
  subscriber: RedisClient,
  onHandlerError: (err: unknown, channel: string) => void,
): Subscriptions {
  const handlers = new Map<string, Set<(message: string) => void>>();
  // Changes run one at a time so SUBSCRIBE/UNSUBSCRIBE reach Redis in the order the handler sets changed.
  let queue: Promise<unknown> = Promise.resolve();
  let cleared = false;

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  }

  async function unsubscribe(channel: string, handler: (message: string) => void): Promise<void> {
    const set = handlers.get(channel);
    if (!set?.delete(handler) || set.size > 0) return;
    handlers.delete(channel);
    if (cleared) return;
    // Delivery has already stopped locally; if Redis is unreachable the leftover server-side
    // subscription is dropped when its next message arrives (see the 'message' listener).
    await subscriber.unsubscribe(channel).catch(() => {});
  }

  subscriber.on('message', (channel: string, message: string) => {
    const current = handlers.get(channel);
    if (!current) {
      // A subscription whose UNSUBSCRIBE was lost while Redis was down, restored by ioredis on reconnect.
      void serial(async () => {
        if (!cleared && !handlers.has(channel)) await subscriber.unsubscribe(channel);
      }).catch(() => {});
      return;
    }
    for (const handler of [...current]) {
      try {
        handler(message);
      } catch (err) {
        onHandlerError(err, channel);
      }
    }
  });

  return {
    subscribe: (channel, handler) =>
      serial(async () => {
        if (cleared) throw new KvUnavailableError('kv unavailable: store is closed');
        // A private wrapper so subscribing the same function twice yields two independent subscriptions.
        const wrapped = (message: string): void => handler(message);
        let set = handlers.get(channel);
        if (!set) {
          if (!(await connectOnce(subscriber))) throw new KvUnavailableError('kv unavailable: cannot reach Redis');
          await subscriber.subscribe(channel);
          handlers.set(channel, (set = new Set()));
        }
        set.add(wrapped);
        return () => serial(() => unsubscribe(channel, wrapped));
      }),
    clear: () => {
      cleared = true;
      handlers.clear();
    },
  };
}
