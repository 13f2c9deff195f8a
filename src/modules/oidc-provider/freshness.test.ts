import { describe, expect, it } from 'vitest';
import { createMemoryKv } from '../../kv/memory.js';
import { freshnessDemand, meetsFreshness, reauthMarks } from './freshness.js';
import { INTERACTION_TTL_SECONDS } from './provider.js';

describe('freshnessDemand', () => {
  it('reads prompt=login among other prompts and max_age in seconds (as oidc-provider keeps them: strings)', () => {
    expect(freshnessDemand({})).toEqual({ promptLogin: false, maxAgeMs: undefined });
    expect(freshnessDemand({ prompt: 'consent login' })).toEqual({ promptLogin: true, maxAgeMs: undefined });
    expect(freshnessDemand({ prompt: 'consent', max_age: '300' })).toEqual({ promptLogin: false, maxAgeMs: 300_000 });
    expect(freshnessDemand({ max_age: 60 })).toEqual({ promptLogin: false, maxAgeMs: 60_000 });
  });

  it('takes a max_age it cannot read as the strictest demand, never as none', () => {
    for (const bad of ['-1', '1.5', 'abc', '9'.repeat(20)]) expect(freshnessDemand({ max_age: bad }).maxAgeMs).toBe(0);
  });
});

describe('meetsFreshness', () => {
  const now = 1_000_000_000;
  it('without prompt=login or max_age any live session does', () => {
    expect(meetsFreshness(now - 86_400_000, { promptLogin: false, maxAgeMs: undefined }, null, now)).toBe(true);
  });

  it('max_age: an age below it does, an age of it or more does not', () => {
    const d = { promptLogin: false, maxAgeMs: 60_000 };
    expect(meetsFreshness(now - 59_999, d, null, now)).toBe(true);
    expect(meetsFreshness(now - 60_000, d, null, now)).toBe(false);
    expect(meetsFreshness(now - 1, { promptLogin: false, maxAgeMs: 0 }, null, now)).toBe(false);
  });

  it('prompt=login: only a sign-in at or after the interaction\'s mark does, however recent the session', () => {
    const d = { promptLogin: true, maxAgeMs: undefined };
    expect(meetsFreshness(now, d, null, now)).toBe(false);
    expect(meetsFreshness(now - 1, d, now - 1, now)).toBe(true);
    expect(meetsFreshness(now - 2, d, now - 1, now)).toBe(false);
  });

  it('a sign-in after the mark meets max_age=0 too (no endless loop back to the sign-in page)', () => {
    expect(meetsFreshness(now - 5_000, { promptLogin: false, maxAgeMs: 0 }, now - 10_000, now)).toBe(true);
  });
});

describe('reauthMarks', () => {
  it('keeps the first mark of an interaction, per tenant, for the interaction\'s lifetime', async () => {
    let t = 5_000;
    const kv = createMemoryKv({ now: () => t });
    expect(await reauthMarks.since(kv, 't1', 'uid-1')).toBeNull();
    await reauthMarks.start(kv, 't1', 'uid-1', 1_000);
    await reauthMarks.start(kv, 't1', 'uid-1', 2_000);
    expect(await reauthMarks.since(kv, 't1', 'uid-1')).toBe(1_000);
    expect(await reauthMarks.since(kv, 't2', 'uid-1')).toBeNull();
    expect(await reauthMarks.since(kv, 't1', 'uid-2')).toBeNull();
    t += INTERACTION_TTL_SECONDS * 1000;
    expect(await reauthMarks.since(kv, 't1', 'uid-1')).toBeNull();
    await kv.close();
  });
});
