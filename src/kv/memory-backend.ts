import type { WindowState } from './sliding-window.js';

export type MemoryValue =
  | { type: 'string'; value: string }
  | { type: 'set'; value: Set<string> }
  | { type: 'window'; value: WindowState };

export interface MemoryEntry {
  data: MemoryValue;
  /** absolute time on the backend clock; null = no expiry. */
  expiresAt: number | null;
}

export interface MemoryBackendOptions {
  /** clock for TTLs (default Date.now); inject one to test expiry without waiting. */
  now?: () => number;
  /** how often expired keys are purged while some Kv handle is open (default 30 s). */
  sweepIntervalMs?: number;
}

/**
 * The shared state behind memory Kv handles: keys (already prefixed), pub/sub channels and the clock.
 * Handles created on one backend behave like app instances sharing one Redis.
 */
export class MemoryBackend {
  readonly now: () => number;
  readonly entries = new Map<string, MemoryEntry>();
  readonly channels = new Map<string, Set<(message: string) => void>>();
  private readonly sweepIntervalMs: number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private handles = 0;

  constructor(opts: MemoryBackendOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 30_000;
  }

  /** Number of stored keys, including expired ones not yet purged. */
  get size(): number {
    return this.entries.size;
  }

  /** The live entry for a prefixed key, dropping it first if it has expired. */
  live(key: string): MemoryEntry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Removes every expired entry. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.entries.delete(key);
    }
  }

  /** Registers an open handle; the sweep timer runs while at least one is open. */
  attach(): void {
    this.handles += 1;
    if (this.sweepTimer === null) {
      this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
      // The sweep only bounds memory; it must never keep the process alive.
      this.sweepTimer.unref();
    }
  }

  /** Unregisters a handle; stops the sweep timer when none is left. */
  detach(): void {
    this.handles -= 1;
    if (this.handles <= 0 && this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }
}

/** Creates a backend that several createMemoryKv handles can share (data and pub/sub). */
export function createMemoryBackend(opts?: MemoryBackendOptions): MemoryBackend {
  return new MemoryBackend(opts);
}
