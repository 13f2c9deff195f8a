import type { Tenant } from '../tenants/schemas.js';

/**
 * A memo of bucket keys for the hot path of the `default` class (local admission), which decides most
 * requests from memory: building a key (kvKey's escaping, a joined ~110-character string) and hashing
 * that new string for the lease lookup cost more than the decision itself. Looked up by the parts, which
 * are strings already hashed (the tenant's id, the memoized route label, the client key), so a repeat
 * builds nothing. `build` is the one definition of the key; the memo returns exactly what it returns.
 * Bounded: past `max` keys it starts over.
 */
export function createBucketKeyMemo(build: (tenant: Tenant | null, route: string, ip: string) => string, max = 50_000) {
  const byTenant = new Map<string | null, Map<string, Map<string, string>>>();
  let size = 0;

  return function bucketKeyOf(tenant: Tenant | null, route: string, ip: string): string {
    const tenantId = tenant?.id ?? null;
    let byRoute = byTenant.get(tenantId);
    if (byRoute === undefined) byTenant.set(tenantId, (byRoute = new Map()));
    let byIp = byRoute.get(route);
    if (byIp === undefined) byRoute.set(route, (byIp = new Map()));
    let key = byIp.get(ip);
    if (key === undefined) {
      if (size >= max) {
        byTenant.clear();
        size = 0;
        return bucketKeyOf(tenant, route, ip);
      }
      key = build(tenant, route, ip);
      byIp.set(ip, key);
      size++;
    }
    return key;
  };
}
