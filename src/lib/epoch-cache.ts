/**
 * The shape every per-instance cache of verified credentials here shares (API keys, bearer checks, MCP
 * bearers): entries live at most `ttlMs` by the injected clock, the map holds at most `max` (oldest out
 * first), and `epoch` moves on every drop so that a lookup that raced an invalidation is not stored.
 * Usage: `const seen = cache.epoch; const v = await load(); cache.put(key, v, seen);`.
 */
export function createEpochCache<V>(o: {
  ttlMs: number;
  max: number;
  now: () => number;
  /** A further reason to refuse an entry (e.g. its token expired); checked on every hit. */
  stillValid?: (value: V, now: number) => boolean;
}) {
  const entries = new Map<string, { value: V; at: number }>();
  let epoch = 0;

  return {
    get epoch() { return epoch; },

    /** The cached value, or undefined when absent, older than the bound, or no longer valid. */
    get(key: string): V | undefined {
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

    /** Stores a value unless a drop happened since `seenEpoch` (the lookup may predate it). */
    put(key: string, value: V, seenEpoch: number): void {
      if (seenEpoch !== epoch) return;
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
      epoch++;
      for (const [key, e] of entries) if (matches(e.value)) entries.delete(key);
    },

    /** Forgets one entry (found stale by its owner); the epoch stays. */
    forget(key: string): void {
      entries.delete(key);
    },

    clear(): void {
      epoch++;
      entries.clear();
    },

    get size() { return entries.size; },
  };
}

export type EpochCache<V> = ReturnType<typeof createEpochCache<V>>;
