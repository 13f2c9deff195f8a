import type { Sql } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { createInvalidationEpoch } from '../../lib/epoch-cache.js';
import { isUuid } from '../../lib/ids.js';
import { AppError } from '../../http/errors.js';
import { SettingsPatch, TenantSettings, type Tenant } from './schemas.js';
import { tenantStore } from './store.js';

const CACHE_TTL_MS = 30_000;
const KEY_MEMO_MAX = 10_000;
const INVALIDATE_CHANNEL = 'tenants:invalidate';

export type TenantService = ReturnType<typeof createTenantService>;

/**
 * Tenants with an in-process cache: entries live at most 30 s and are dropped on every instance through
 * the store's pub/sub when a tenant changes, so the hot path resolves tenants without Postgres. Nothing is
 * served while that subscription is down, nor anything read before it came back (createInvalidationEpoch).
 */
export function createTenantService(deps: { sql: Sql; kv: Kv; clock: Clock }) {
  const { sql, kv, clock } = deps;
  const cache = new Map<string, { tenant: Tenant | null; at: number }>();
  // The union of every tenant's allowedOrigins (CORS preflights carry no tenant); same staleness bound.
  let origins: { set: ReadonlySet<string>; at: number } | null = null;
  let originsLoading: { gen: number; p: Promise<ReadonlySet<string>> } | null = null;
  // Moves on every tenant change and every subscription generation change (then everything is forgotten).
  const epoch = createInvalidationEpoch({
    generation: () => kv.subscriptionGeneration(),
    reset: () => { cache.clear(); origins = null; },
  });
  const dropAll = () => { cache.clear(); origins = null; epoch.bump(); };

  const cached = (key: string): Tenant | null | undefined => {
    if (!epoch.live()) return undefined;
    const hit = cache.get(key);
    if (!hit) return undefined;
    if (Date.now() - hit.at > CACHE_TTL_MS) { cache.delete(key); return undefined; }
    return hit.tenant;
  };
  // A reference as given (a claim's tid, an X-Tenant-ID value, 'default') → its cache key. The strings seen on
  // the hot path are the same few objects again and again, and a Map keeps their hashes; the joined key built
  // per request would be a new string to hash, after a uuid test, each time.
  const keyMemo = new Map<string, string>();
  const keyOfRef = (ref: string): string => {
    let key = keyMemo.get(ref);
    if (key === undefined) {
      key = isUuid(ref) ? `id:${ref.toLowerCase()}` : `slug:${ref}`;
      if (keyMemo.size >= KEY_MEMO_MAX) keyMemo.clear();
      keyMemo.set(ref, key);
    }
    return key;
  };
  const cachedById = (id: string): Tenant | null | undefined => {
    const key = keyOfRef(id);
    return key.startsWith('id:') ? cached(key) : null;
  };
  /** Keeps a tenant read after `seen` was captured, unless a change or a reconnect happened since. */
  const remember = (t: Tenant, seen: number) => {
    if (!epoch.unchanged(seen)) return;
    const at = Date.now();
    cache.set(`id:${t.id}`, { tenant: t, at });
    cache.set(`slug:${t.slug}`, { tenant: t, at });
  };

  return {
    /** Subscribes to cross-instance invalidation; call once at start. */
    async start() {
      return kv.subscribe(INVALIDATE_CHANNEL, dropAll);
    },
    /** The tenant with this id, or null. */
    async byId(id: string): Promise<Tenant | null> {
      const c = cachedById(id);
      if (c !== undefined) return c;
      const seen = epoch.value;
      const t = await sql.tx(null, (tx) => tenantStore.byId(tx, id));
      if (t) remember(t, seen);
      return t;
    },
    /** The cached tenant with this id without I/O; undefined when it must be loaded (byId). */
    cachedById,
    /** The cached answer for an `X-Tenant-ID` value without I/O; undefined when it must be loaded (resolve). */
    cachedRef(ref: string): Tenant | null | undefined {
      return cached(keyOfRef(ref));
    },
    /** Resolves an `X-Tenant-ID` value (uuid or slug); null if unknown. */
    async resolve(ref: string): Promise<Tenant | null> {
      if (isUuid(ref)) return this.byId(ref);
      if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(ref)) return null;
      const c = cached(`slug:${ref}`);
      if (c !== undefined) return c;
      const seen = epoch.value;
      const t = await sql.tx(null, (tx) => tenantStore.bySlug(tx, ref));
      if (t) remember(t, seen);
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
      // The new tenant's origins join the CORS union at once, on every instance.
      dropAll();
      await kv.publish(INVALIDATE_CHANNEL, t.id).catch(() => {});
      return t;
    },
    /**
     * Every origin some tenant allows (exact serialized origins), for CORS. Cached in-process for at most
     * 30 s and dropped on every tenant change; concurrent misses share one load.
     */
    async allowedOrigins(): Promise<ReadonlySet<string>> {
      if (epoch.live() && origins && Date.now() - origins.at <= CACHE_TTL_MS) return origins.set;
      const gen = epoch.value;
      if (originsLoading?.gen === gen) return originsLoading.p;
      const p: Promise<ReadonlySet<string>> = (async () => {
        const set = new Set<string>();
        for (let offset = 0; ; offset += 500) {
          const page = await sql.tx(null, (tx) => tenantStore.list(tx, 500, offset));
          for (const t of page.items) for (const o of t.settings.allowedOrigins) set.add(o);
          if (page.items.length < 500) break;
        }
        // A tenant changed (or the subscriber reconnected) while we read: serve this answer once but do not keep it.
        if (epoch.unchanged(gen)) origins = { set, at: Date.now() };
        return set;
      })().finally(() => { if (originsLoading?.p === p) originsLoading = null; });
      originsLoading = { gen, p };
      return p;
    },
    /** Updates name and/or merges settings; null if unknown. */
    async update(id: string, patch: { name?: string; settings?: unknown }): Promise<Tenant | null> {
      const parsedPatch = patch.settings === undefined ? undefined : SettingsPatch.parse(patch.settings);
      // zod 4's partial() still fills the inner defaults in: keep only the keys the caller sent, or a
      // patch of one setting would reset every other setting to its default.
      const settingsPatch = parsedPatch && Object.fromEntries(Object.entries(parsedPatch).filter(([k]) => Object.hasOwn(patch.settings as object, k)));
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
      // A list that tolerates replication lag: the read pool (DATABASE_READ_URL) when configured.
      return sql.readTx(null, (tx) => tenantStore.list(tx, limit, offset));
    },
  };
}
