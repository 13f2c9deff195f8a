import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND, createStores, type Stores } from '../../helpers/backend.js';
import { eventually } from '../../helpers/eventually.js';
import { kvKey, type Kv, type Unsubscribe } from '../../../src/kv/kv.js';
import { createManualClock } from '../../../src/lib/clock.js';
import { banStore } from '../../../src/modules/rate-limit/ban-store.js';
import { createIpBlocks } from '../../../src/modules/rate-limit/ip-blocks.js';

/**
 * The per-instance view of bans and lockouts is fed by pub/sub and re-read every 5 s / 30 s. A ban or
 * lockout announced while this instance's subscriber was away never arrives: the view re-reads both as
 * soon as the subscription generation (Kv.subscriptionGeneration) says the subscriber is back, instead of
 * waiting for the periodic re-read (issue 26). The generation is driven by the test; the data is real.
 */
let stores: Stores;
let kv: Kv;
let generation = 1;
let stop: Unsubscribe | undefined;
const clock = createManualClock();

beforeAll(async () => {
  stores = await createStores();
  kv = { ...stores.kv, subscriptionGeneration: () => generation, subscriptionsLive: () => generation % 2 === 1 };
});
afterAll(async () => {
  await stop?.();
  await stores?.drop();
});

describe(`IP bans and lockouts after a pub/sub reconnect (${BACKEND})`, () => {
  it('a ban and a lockout written while the subscriber was away apply as soon as it is back', async () => {
    const blocks = createIpBlocks({ sql: stores.sql, kv, clock, log: pino({ level: 'silent' }) });
    stop = await blocks.start();
    const ip = '203.0.113.7';
    const locked = '203.0.113.8';
    expect(blocks.bannedId(ip)).toBeNull();
    generation++; // down: what follows is written and announced elsewhere, and never reaches this instance
    const ban = await stores.sql.tx(null, (tx) => banStore.insert(tx, { ip, reason: 'test', lockouts: 3, now: new Date() }));
    const until = clock.nowMs() + 600_000;
    await stores.kv.sadd(kvKey(null, 'rl', 'lockouts'), `${locked}|${until}`, 600_000);
    expect(blocks.bannedId(ip)).toBeNull();
    generation++; // back
    expect(await eventually(async () => blocks.bannedId(ip), ban!.id, 1_000)).toBe(ban!.id);
    expect(await eventually(async () => blocks.lockedUntil(locked), until, 1_000)).toBe(until);
  });
});
