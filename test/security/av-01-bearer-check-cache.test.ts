import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { getUser, raiseLimits, register } from '../helpers/identity.js';
import type { Kv } from '../../src/kv/kv.js';
import { KvUnavailableError } from '../../src/kv/kv-errors.js';
import { SESSION_CHECK_TTL_MS } from '../../src/modules/sessions/check-cache.js';

/**
 * AV-01 and the REST bearer-check cache (src/modules/sessions/check-cache.ts). A session check may be
 * answered from memory for SESSION_CHECK_TTL_MS, but only while invalidations can arrive (the store's
 * pub/sub is up) and never for a state-changing request. The store here fails session reads
 * (`sessionReadsFail`) and reports its pub/sub down (`pubsubDown`) on demand; the limiter keeps working,
 * so what is tested is the guard's own rule.
 */
let t: TestApp;
let stores: Stores;
let sessionReadsFail = false;
let pubsubDown = false;
// Each simulated outage ends in a new subscription generation, as a real reconnect does.
let outages = 0;

function withFaults(kv: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'mget') {
        return (keys: string[]) => (sessionReadsFail ? Promise.reject(new KvUnavailableError('kv unavailable: test outage')) : target.mget(keys));
      }
      if (prop === 'subscriptionsLive') return () => !pubsubDown && target.subscriptionsLive();
      if (prop === 'subscriptionGeneration') return () => (pubsubDown ? 2 * outages : target.subscriptionGeneration() + 2 * outages);
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

beforeAll(async () => {
  stores = await createStores();
  t = await createTestApp({ stores: { ...stores, kv: withFaults(stores.kv) } });
  await raiseLimits(t);
});
afterAll(async () => {
  await t?.close();
  await stores?.drop();
});

const faults = async <T>(o: { reads: boolean; pubsub: boolean }, fn: () => Promise<T>): Promise<T> => {
  sessionReadsFail = o.reads;
  pubsubDown = o.pubsub;
  if (o.pubsub) outages++;
  try {
    return await fn();
  } finally {
    sessionReadsFail = false;
    pubsubDown = false;
  }
};

describe(`AV-01 with the bearer check cache (${BACKEND})`, () => {
  it('store unreachable and pub/sub down: even a just-checked token is refused 503, never served from memory', async () => {
    const u = await register(t.app);
    expect((await getUser(t.app, u.accessToken)).statusCode).toBe(200);
    const res = await faults({ reads: true, pubsub: true }, () => getUser(t.app, u.accessToken));
    expect(res.statusCode, res.body).toBe(503);
    expect(res.data.error).toBe('unavailable');
  });

  it('session reads failing while pub/sub is up: a read within the bound is answered, a state change is refused 503 and changes nothing', async () => {
    const u = await register(t.app);
    expect((await getUser(t.app, u.accessToken)).statusCode).toBe(200);
    await faults({ reads: true, pubsub: false }, async () => {
      expect((await getUser(t.app, u.accessToken)).statusCode).toBe(200);
      const out = await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken });
      expect(out.statusCode, out.body).toBe(503);
      t.clock.advance(SESSION_CHECK_TTL_MS + 1);
      expect((await getUser(t.app, u.accessToken)).statusCode).toBe(503);
    });
    // The refused logout ended nothing; a logout now does, and the cached answer goes with it.
    expect((await getUser(t.app, u.accessToken)).statusCode).toBe(200);
    expect((await call(t.app, { method: 'POST', url: '/auth/logout', token: u.accessToken })).statusCode).toBe(200);
    expect((await getUser(t.app, u.accessToken)).statusCode).toBe(401);
  });
});
