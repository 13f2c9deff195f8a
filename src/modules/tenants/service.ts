import type { Sql } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { isUuid } from '../../lib/ids.js';
import { AppError } from '../../http/errors.js';
import { SettingsPatch, TenantSettings, type Tenant } from './schemas.js';
import { tenantStore } from './store.js';

const CACHE_TTL_MS = 30_000;
const INVALIDATE_CHANNEL = 'tenants:invalidate';

export type TenantService = ReturnType<typeof createTenantService>;

/**
 * Tenants with an in-process cache: entries live at most 30 s and are dropped on every instance through
 * the store's pub/sub when a tenant changes, so the hot path resolves tenants without Postgres.
 */
export function createTenantService(deps: { sql: Sql; kv: Kv; clock: Clock }) {
  const { sql, kv, clock } = deps;
  const cache = new Map<string, { tenant: Tenant | null; at: number }>();

  const cached = (key: string): Tenant | null | undefined => {
    const hit = cache.get(key);
    if (!hit) return undefined;
    if (Date.now() - hit.at > CACHE_TTL_MS) { cache.delete(key); return undefined; }
    return hit.tenant;
  };
  const remember = (t: Tenant) => {
    const at = Date.now();
    cache.set(`id:${t.id}`, { tenant: t, at });
    cache.set(`slug:${t.slug}`, { tenant: t, at });
  };
  const dropAll = () => cache.clear();

  return {
    /** Subscribes to cross-instance invalidation; call once at start. */
    async start() {
      return kv.subscribe(INVALIDATE_CHANNEL, dropAll);
    },
    /** The tenant with this id, or null. */
    async byId(id: string): Promise<Tenant | null> {
      if (!isUuid(id)) return null;
      const c = cached(`id:${id.toLowerCase()}`);
      if (c !== undefined) return c;
      const t = await sql.tx(null, (tx) => tenantStore.byId(tx, id));
      if (t) remember(t);
      return t;
    },
    /** Resolves an `X-Tenant-ID` value (uuid or slug); null if unknown. */
    async resolve(ref: string): Promise<Tenant | null> {
      if (isUuid(ref)) return this.byId(ref);
      if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(ref)) return null;
      const c = cached(`slug:${ref}`);
      if (c !== undefined) return c;
      const t = await sql.tx(null, (tx) => tenantStore.bySlug(tx, ref));
      if (t) remember(t);
      return t;
    },
    async defaultTenant(): Promise<Tenant> {
      const t = await this.resolve('default');
      if (!t) throw new AppError('unavailable', 'The default tenant is missing; run the migrations.');
      return t;
    },
    /** Creates a tenant; 409 conflict when the slug is taken. */
    async create(input: { slug: string; name: string; settings?: unknown }): Promise<Tenant> {
      const settings = TenantSettings.parse(input.settings ?? {});
      const t = await sql.tx(null, (tx) => tenantStore.insert(tx, { slug: input.slug, name: input.name, settings }));
      if (!t) throw new AppError('conflict', `A tenant with slug "${input.slug}" already exists.`);
      return t;
    },
    /** Updates name and/or merges settings; null if unknown. */
    async update(id: string, patch: { name?: string; settings?: unknown }): Promise<Tenant | null> {
      const settingsPatch = patch.settings === undefined ? undefined : SettingsPatch.parse(patch.settings);
      const t = await sql.tx(null, async (tx) => {
        const current = await tenantStore.byId(tx, id);
        if (!current) return null;
        const settings = settingsPatch ? TenantSettings.parse({ ...current.settings, ...settingsPatch }) : undefined;
        return tenantStore.update(tx, id, { name: patch.name, settings }, clock.now());
      });
      if (t) {
        dropAll();
        await kv.publish(INVALIDATE_CHANNEL, t.id);
      }
      return t;
    },
    async list(limit: number, offset: number) {
      return sql.tx(null, (tx) => tenantStore.list(tx, limit, offset));
    },
  };
}
