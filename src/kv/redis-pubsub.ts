import type { Unsubscribe } from './kv.js';
import { KvUnavailableError } from './kv-errors.js';
import { connectOnce, type RedisClient } from './redis-connection.js';

export interface Subscriptions {
  /** Subscribes `handler` to a full (prefixed) channel; resolves once Redis confirmed the subscription. */
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
  /** Forgets every handler; the connection itself is closed by the owner. */
  clear(): void;
  /** The subscription generation (see Kv.subscriptionGeneration): odd while every channel is subscribed. */
  generation(): number;
}

/**
 * Dispatches messages from a dedicated subscriber connection to local handlers, subscribing each
 * channel once. ioredis re-subscribes by itself after a reconnect; the generation turns live (odd) only
 * once a SUBSCRIBE of every channel, sent after the reconnect, has been confirmed, since ioredis reports
 * 'ready' before its own re-subscription reached Redis and a message published meanwhile is lost.
 */
export function createSubscriptions(
  subscriber: RedisClient,
  onHandlerError: (err: unknown, channel: string) => void,
): Subscriptions {
  const handlers = new Map<string, Set<(message: string) => void>>();
  // Changes run one at a time so SUBSCRIBE/UNSUBSCRIBE reach Redis in the order the handler sets changed.
  let queue: Promise<unknown> = Promise.resolve();
  let cleared = false;
  // Even: messages may be missed (not connected yet, reconnecting, closed); odd: every channel is subscribed.
  let generation = 0;
  // Counts connection events, so a re-subscription that finished after its connection dropped changes nothing.
  let connection = 0;
  const goDown = (): void => {
    connection++;
    if ((generation & 1) === 1) generation++;
  };

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

  /**
   * Run inside `serial`: on a connected subscriber whose generation is down, subscribes every channel and,
   * once Redis confirmed it on this same connection, turns the generation live.
   */
  async function resubscribeAll(): Promise<void> {
    if (cleared || (generation & 1) === 1 || subscriber.status !== 'ready') return;
    const mine = connection;
    const channels = [...handlers.keys()];
    if (channels.length > 0) await subscriber.subscribe(...channels);
    if (mine === connection && !cleared && subscriber.status === 'ready' && (generation & 1) === 0) generation++;
  }

  subscriber.on('close', goDown);
  subscriber.on('ready', () => {
    connection++;
    void serial(resubscribeAll).catch(() => {
      // The connection dropped again (its 'close' keeps the generation down and the next 'ready' retries),
      // or the SUBSCRIBE timed out on a connection still up: reconnect, so that 'ready' comes again.
      if (!cleared && subscriber.status === 'ready') subscriber.disconnect(true);
    });
  });

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
          // The first subscription (or one made while the generation is down) brings it live itself.
          await resubscribeAll();
          await subscriber.subscribe(channel);
          handlers.set(channel, (set = new Set()));
        }
        set.add(wrapped);
        return () => serial(() => unsubscribe(channel, wrapped));
      }),
    clear: () => {
      cleared = true;
      handlers.clear();
      goDown();
    },
    generation: () => generation,
  };
}
