import { describe, expect, it } from 'vitest';
import { kvKey } from '../../kv/kv.js';
import type { Tenant } from '../tenants/schemas.js';
import { createBucketKeyMemo } from './bucket-keys.js';

const build = (tenant: Tenant | null, route: string, ip: string) => kvKey(tenant?.id ?? null, 'rl', `default:${route}:${ip}`);
const tenant = (id: string) => ({ id }) as Tenant;

describe('createBucketKeyMemo', () => {
  it('returns exactly what the key builder returns, for every combination, past its bound too', () => {
    let builds = 0;
    const memo = createBucketKeyMemo((...a) => { builds++; return build(...a); }, 7);
    const tenants = [null, tenant('t-1'), tenant('t{2}%')];
    const routes = ['GET /auth/user', 'POST /auth/authorize', 'GET /auth/{x}'];
    const ips = ['127.0.0.1', '2001:db8::/64', 'unknown'];
    for (let round = 0; round < 3; round++) {
      for (const tn of tenants) for (const r of routes) for (const ip of ips) expect(memo(tn, r, ip)).toBe(build(tn, r, ip));
    }
    // 27 distinct keys through a bound of 7: it starts over rather than growing.
    expect(builds).toBeGreaterThan(27);
  });

  it('builds a repeated key once while under its bound', () => {
    let builds = 0;
    const memo = createBucketKeyMemo((...a) => { builds++; return build(...a); });
    for (let i = 0; i < 100; i++) memo(tenant('t-1'), 'GET /auth/user', '10.0.0.1');
    expect(builds).toBe(1);
    // A different tenant object with the same id is the same bucket.
    expect(memo(tenant('t-1'), 'GET /auth/user', '10.0.0.1')).toBe(build(tenant('t-1'), 'GET /auth/user', '10.0.0.1'));
    expect(builds).toBe(1);
  });
});
