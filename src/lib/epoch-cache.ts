/** The generation of a source whose delivery never stops (no pub/sub involved: unit tests, in-process use). */
const ALWAYS_LIVE = (): number => 1;

/**
 * The invalidation epoch of one in-process cache that relies on pub/sub messages — the one mechanism every
 * such cache here uses. It moves on every local drop (`bump`) and whenever the store's subscription
 * generation (Kv.subscriptionGeneration) changes: the subscriber went down or came back, so messages may
 * have been lost, and `reset` is called to forget everything read before. While the generation is down
 * (even) nothing is served (`live()` is false) and nothing is kept (`value` is -1, which no epoch equals).
 *
 * Usage: serve only when `live()`; `const seen = e.value` BEFORE the read; store only if `e.unchanged(seen)`
 * after it, so a read that started before a drop or a reconnect is never kept as valid after it. Every call
 * is an integer read and compare (the reset itself happens once per generation, on the first call after it).
 */
export function createInvalidationEpoch(o: { generation?: () => number; reset: () => void }) {
  const generation = o.generation ?? ALWAYS_LIVE;
  let seenGeneration = generation();
  let epoch = 0;

  /** Catches up with the subscription generation; whether messages are delivered now. */
  function live(): boolean {
    const g = generation();
    if (g !== seenGeneration) {
      seenGeneration = g;
      epoch++;
      o.reset();
    }
    return (g & 1) === 1;
  }

  return {
    live,
    /** What a fill captures before its read: the epoch, or -1 while the subscriber is down. */
    get value(): number {
      return live() ? epoch : -1;
    },
    /** Whether a fill that captured `seen` before its read may be kept now: no drop, no generation change. */
    unchanged(seen: number): boolean {
      return live() && seen === epoch;
    },
    /** A local drop: fills in flight are not kept. */
    bump(): void {
      epoch++;
    },
  };
}

export type InvalidationEpoch = ReturnType<typeof createInvalidationEpoch>;

/**
 * The shape every per-instance cache of verified credentials here shares (API keys, bearer checks, MCP
 * bearers): entries live at most `ttlMs` by the injected clock, the map holds at most `max` (oldest out
 * first), and `epoch` moves on every drop and every subscription generation change (createInvalidationEpoch)
 * so that a lookup that raced an invalidation or a pub/sub reconnect is not stored; nothing is served while
 * the subscriber is down, and nothing from before it came back.
 * Usage: `const seen = cache.epoch; const v = await load(); cache.put(key, v, seen);`.
 */
export function createEpochCache<V>(o: {
  ttlMs: number;
  max: number;
  now: () => number;
  /** The store's subscription generation (`() => kv.subscriptionGeneration()`); omitted = always live. */
  generation?: () => number;
  /** A further reason to refuse an entry (e.g. its token expired); checked on every hit. */
  stillValid?: (value: V, now: number) => boolean;
}) {
  const entries = new Map<string, { value: V; at: number }>();
  const epoch = createInvalidationEpoch({ generation: o.generation, reset: () => entries.clear() });

  return {
    /** Capture before a lookup and hand to `put`; -1 while the subscriber is down. */
    get epoch() { return epoch.value; },

    /** The cached value, or undefined when absent, older than the bound, no longer valid, or the subscriber is down. */
    get(key: string): V | undefined {
      if (!epoch.live()) return undefined;
      const hit = entries.get(key);
      if (!hit) return undefined;
      const now = o.now();
      const age = now - hit.at;
      // A clock moved backwards is treated like an expired entry: re-check rather than trust it.
      if (age > o.ttlMs || age < 0 || (o.stillValid && !o.stillValid(hit.value, now))) {
        entries.delete(key);
        return undefined;
      }
      return hit.value;
    },

    /** Stores a value unless a drop or a generation change happened since `seenEpoch` (the lookup may predate it). */
    put(key: string, value: V, seenEpoch: number): void {
      if (!epoch.unchanged(seenEpoch)) return;
      if (entries.size >= o.max && !entries.has(key)) {
        // Oldest first (a Map iterates in insertion order): bounded memory whatever the key count.
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.delete(key);
      entries.set(key, { value, at: o.now() });
    },

    /** Drops every entry whose value matches (and moves the epoch). */
    dropWhere(matches: (value: V) => boolean): void {
      epoch.bump();
      for (const [key, e] of entries) if (matches(e.value)) entries.delete(key);
    },

    /** Forgets one entry (found stale by its owner); the epoch stays. */
    forget(key: string): void {
      entries.delete(key);
    },

    clear(): void {
      epoch.bump();
      entries.clear();
    },

    get size() { return entries.size; },
  };
}

export type EpochCache<V> = ReturnType<typeof createEpochCache<V>>;
