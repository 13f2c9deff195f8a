import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createTestApp, RATE_LIMIT_TEST_DEFAULTS, TEST_AUTH_SECRET, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { freshIp, loginAttempt } from '../integration/rate-limit/helpers.js';

/**
 * RL-04: the limiter keys on the socket address unless TRUST_PROXY names the proxies; then on the
 * rightmost untrusted X-Forwarded-For hop, canonicalised (IPv6 by /64). TRUST_PROXY=true is refused.
 */
const PROXY = '10.9.8.7';
let stores: Stores;
let direct: TestApp;
let proxied: TestApp;
let hop: TestApp;

beforeAll(async () => {
  stores = await createStores({ now: () => Date.now() });
  direct = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS, stores });
  proxied = await createTestApp({ env: { ...RATE_LIMIT_TEST_DEFAULTS, TRUST_PROXY: `${PROXY},192.0.2.0/24` }, stores });
  hop = await createTestApp({ env: { ...RATE_LIMIT_TEST_DEFAULTS, TRUST_PROXY: '1' }, stores });
});
afterAll(async () => {
  for (const t of [direct, proxied, hop]) await t?.close();
  await stores?.drop();
});

const xff = (value: string) => ({ 'x-forwarded-for': value });

describe(`client address for limits (${BACKEND})`, () => {
  it('TRUST_PROXY=true is refused at start; false, a hop count and CIDRs are accepted', () => {
    for (const v of ['true', 'TRUE', ' true ']) {
      expect(() => loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, TRUST_PROXY: v })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY/);
    expect(loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET }).trustProxy).toBe(false);
    expect(loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, TRUST_PROXY: '10.0.0.0/8, ::1' }).trustProxy).toEqual(['10.0.0.0/8', '::1']);
  });

  it('without TRUST_PROXY a spoofed X-Forwarded-For does not reset the limit: the 21st is refused', async () => {
    const socket = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i += 1) statuses.push((await loginAttempt(direct.app, socket, { headers: xff(`203.0.113.${i}`) })).statusCode);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses.slice(20)).toEqual(Array(5).fill(429));
  });

  it('a spoofed victim address is never locked out or banned: the socket address is', async () => {
    const attacker = freshIp();
    const victim = freshIp();
    for (let cycle = 0; cycle < 3; cycle += 1) {
      for (let i = 0; i < 30; i += 1) await loginAttempt(direct.app, attacker, { headers: xff(victim) });
      direct.clock.advance(15 * 60_000 + 1000);
    }
    expect((await loginAttempt(direct.app, victim)).statusCode).toBe(400);
    expect((await loginAttempt(direct.app, attacker)).statusCode).toBe(403);
    const bans = await stores.sql.tx(null, (tx) => tx.query<{ ip: string }>('SELECT ip FROM bans WHERE lifted_at IS NULL'));
    expect(bans.rows.map((r) => r.ip)).toEqual([attacker]);
  });

  it('behind a named proxy the key is the rightmost untrusted hop: rotating the leftmost entry does not help', async () => {
    const real = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i += 1) {
      statuses.push((await loginAttempt(proxied.app, PROXY, { headers: xff(`6.6.6.${i}, ${real}, 192.0.2.10`) })).statusCode);
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses.slice(20)).toEqual(Array(5).fill(429));
    // The real client's own bucket is the one that is full.
    expect((await loginAttempt(proxied.app, PROXY, { headers: xff(real) })).statusCode).toBe(429);
  });

  it('a request from an address that is not a trusted proxy has its X-Forwarded-For ignored', async () => {
    const socket = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) statuses.push((await loginAttempt(proxied.app, socket, { headers: xff(`203.0.113.${i}`) })).statusCode);
    expect(statuses[20]).toBe(429);
  });

  it('with a hop count of 1 behind a private peer the client is the last X-Forwarded-For entry', async () => {
    const real = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) statuses.push((await loginAttempt(hop.app, `10.1.2.${i}`, { headers: xff(`6.6.6.${i}, ${real}`) })).statusCode);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses[20]).toBe(429);
  });

  it('with a hop count, a public peer (a client reaching the app directly) cannot pick its address', async () => {
    const socket = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) statuses.push((await loginAttempt(hop.app, socket, { headers: xff(`203.0.113.${i}`) })).statusCode);
    expect(statuses[20]).toBe(429);
  });

  it('IPv6 addresses in one /64 and every spelling of one address share a bucket', async () => {
    const v6 = ['2001:db8:77::1', '2001:DB8:77:0::2', '2001:db8:77::ffff:3', '2001:db8:77:0:abcd::4', '2001:0db8:0077:0000::5'];
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) statuses.push((await loginAttempt(proxied.app, PROXY, { headers: xff(v6[i % v6.length]!) })).statusCode);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(400));
    expect(statuses[20]).toBe(429);
    // Another /64 is another client.
    expect((await loginAttempt(proxied.app, PROXY, { headers: xff('2001:db8:78::1') })).statusCode).toBe(400);

    const mapped: number[] = [];
    for (let i = 0; i < 21; i += 1) mapped.push((await loginAttempt(proxied.app, PROXY, { headers: xff(i % 2 ? '::ffff:198.18.0.1' : '198.18.0.1') })).statusCode);
    expect(mapped[20]).toBe(429);
  });
});
