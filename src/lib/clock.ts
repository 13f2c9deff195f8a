/** The injected clock: every time-based decision reads `now()` so tests can move time. */
export interface Clock {
  now(): Date;
  nowMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
};

/** A clock tests can move; starts at `start`. */
export function createManualClock(start = Date.now()): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => new Date(t),
    nowMs: () => t,
    advance: (ms) => { t += ms; },
    set: (ms) => { t = ms; },
  };
}
