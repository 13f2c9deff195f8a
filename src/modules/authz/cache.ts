import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import type { Kv, Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { createInvalidationEpoch } from '../../lib/epoch-cache.js';
import type { Policy } from './decide.js';
import { orgStore, memberStore } from '../orgs/store.js';
import { roleStore } from '../orgs/role-store.js';
import { policyStore } from '../orgs/policy-store.js';
import { onUserWrite } from '../users/store.js';

/** What decisions need of an org: its policies in order and its custom roles (lower-cased name → permissions). */
export interface OrgSnapshot {
  exists: boolean;
  policies: Policy[];
  customRoles: ReadonlyMap<string, readonly string[]>;
}

/** What decisions need of one membership; null when the user is no (active) member. */
export interface MemberSnapshot {
  roles: string[];
  attributes: Record<string, unknown>;
  email: string | null;
}

export const INVALIDATE_CHANNEL = 'authz:invalidate';
/** The bound on staleness should an invalidation message be lost. */
export const AUTHZ_CACHE_MAX_AGE_MS = 30_000;
/** A message on INVALIDATE_CHANNEL naming a user (`user:<id>`) rather than an org (`<tenant>:<org>`). */
const USER_MESSAGE = 'user:';
/**
 * After a user's row changes (disabled, …), their memberships are neither served from nor stored in the cache
 * for this long. The users store announces a write inside the writer's transaction, before it commits, so a
 * read right after the drop may still see the old row (a user not yet disabled) and must not keep it. Wall
 * time, not the injected clock: it bounds a commit's latency, not a stored time.
 */
const USER_DIRTY_MS = 2_000;
const KEY_MEMO_MAX = 10_000;

interface Entry {
  at: number;
  org: OrgSnapshot;
  members: Map<string, MemberSnapshot | null>;
}

export type AuthzCache = ReturnType<typeof createAuthzCache>;

/**
 * Per-(tenant, org) in-process cache of what decisions read: policies, custom roles and memberships.
 * Entries live at most `maxAgeMs` (clock time) and are dropped on every instance through the KV pub/sub as
 * soon as a policy, role or membership of the org changes (`invalidate`, called after the change commits).
 * A load that raced an invalidation is served to its callers but never stored, so a stale read cannot
 * outlive the change that made it stale. A change to a user's row (the admin plane disabling them) drops that
 * user's memberships in every cached org, here and on every instance, so a disabled subject is denied at once.
 * Nothing is served while the store's subscriber is down, and everything read before it came back is forgotten
 * (the subscription generation, see createInvalidationEpoch): an invalidation published meanwhile is lost.
 */
export function createAuthzCache(deps: { sql: Sql; kv: Kv; clock: Clock; log: Logger; maxAgeMs?: number; maxOrgs?: number; maxMembersPerOrg?: number }) {
  const { sql, kv, clock, log } = deps;
  const maxAgeMs = deps.maxAgeMs ?? AUTHZ_CACHE_MAX_AGE_MS;
  const maxOrgs = deps.maxOrgs ?? 10_000;
  const maxMembers = deps.maxMembersPerOrg ?? 10_000;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<Entry>>();
  // Bumped by every invalidation and every subscription generation change (which also forgets every entry
  // and every shared load in flight): a load that started under an older epoch is not stored.
  const epoch = createInvalidationEpoch({
    generation: () => kv.subscriptionGeneration(),
    reset: () => { entries.clear(); loading.clear(); },
  });
  // user id → wall time until which the user's memberships bypass the cache (USER_DIRTY_MS).
  const dirtyUntil = new Map<string, number>();
  const isDirty = (userId: string) => dirtyUntil.size > 0 && (dirtyUntil.get(userId) ?? 0) > Date.now();

  // Lower-cased: a uuid may arrive in either case, and an invalidation must hit the entry a read made.
  const joinKey = (tenantId: string, orgId: string) => `${tenantId}:${orgId}`.toLowerCase();
  // tenant id → org id as given → its key. Decisions name the same few orgs again and again: a Map hashes
  // a 36-character id here, where building the joined key would cost a new 73-character string per call.
  const keyMemo = new Map<string, Map<string, string>>();
  let memoSize = 0;
  const keyOf = (tenantId: string, orgId: string): string => {
    let byOrg = keyMemo.get(tenantId);
    if (byOrg === undefined) keyMemo.set(tenantId, (byOrg = new Map()));
    let key = byOrg.get(orgId);
    if (key === undefined) {
      if (++memoSize > KEY_MEMO_MAX) {
        keyMemo.clear();
        keyMemo.set(tenantId, byOrg = new Map());
        memoSize = 1;
      }
      byOrg.set(orgId, (key = joinKey(tenantId, orgId)));
    }
    return key;
  };

  function drop(key: string): void {
    epoch.bump();
    entries.delete(key);
    loading.delete(key);
  }

  /** Forgets the user's membership in every cached org; loads in flight may have read the old row. */
  function dropUser(userId: string): void {
    const id = userId.toLowerCase();
    epoch.bump();
    loading.clear();
    for (const e of entries.values()) e.members.delete(id);
    const now = Date.now();
    dirtyUntil.set(id, now + USER_DIRTY_MS);
    if (dirtyUntil.size > 10_000) {
      for (const [k, until] of dirtyUntil) if (until <= now) dirtyUntil.delete(k);
    }
  }

  function fresh(key: string): Entry | undefined {
    if (!epoch.live()) return undefined;
    const e = entries.get(key);
    if (e && clock.nowMs() - e.at > maxAgeMs) { entries.delete(key); return undefined; }
    return e;
  }

  async function loadOrg(tenantId: string, orgId: string, userId?: string): Promise<{ org: OrgSnapshot; member?: MemberSnapshot | null }> {
    return sql.tx(tenantId, async (tx) => {
      const org = await orgStore.byId(tx, orgId);
      if (!org) return { org: { exists: false, policies: [], customRoles: new Map() }, member: null };
      const [policies, roles] = [await policyStore.all(tx, orgId), await roleStore.list(tx, orgId)];
      const member = userId === undefined ? undefined : snapshotOf(await memberStore.get(tx, orgId, userId));
      return {
        org: {
          exists: true,
          policies: policies.map((p) => ({ id: p.id, name: p.name, effect: p.effect, actions: p.actions, resources: p.resources, condition: p.condition })),
          customRoles: new Map(roles.map((r) => [r.name.toLowerCase(), r.permissions])),
        },
        member,
      };
    });
  }

  function store(key: string, entry: Entry): void {
    if (entries.size >= maxOrgs && !entries.has(key)) {
      // Oldest insertion first: a Map iterates in insertion order.
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(key, entry);
  }

  async function entryFor(tenantId: string, orgId: string, userId?: string): Promise<{ entry: Entry; member?: MemberSnapshot | null }> {
    const key = keyOf(tenantId, orgId);
    const hit = fresh(key);
    if (hit) return { entry: hit };
    const pending = loading.get(key);
    if (pending) return { entry: await pending };
    const startEpoch = epoch.value;
    let loadedMember: MemberSnapshot | null | undefined;
    const p = (async () => {
      const { org, member } = await loadOrg(tenantId, orgId, userId);
      loadedMember = member;
      const entry: Entry = { at: clock.nowMs(), org, members: new Map() };
      if (userId !== undefined && member !== undefined && !isDirty(userId)) entry.members.set(userId, member);
      if (epoch.unchanged(startEpoch)) store(key, entry);
      return entry;
    })();
    loading.set(key, p);
    try {
      const entry = await p;
      return { entry, member: loadedMember };
    } finally {
      if (loading.get(key) === p) loading.delete(key);
    }
  }

  /** `orgAndMember`'s answer when the org and this member are cached, without I/O or a promise; else undefined. */
  function cachedOrgAndMember(tenantId: string, orgId: string, subjectId: string): { org: OrgSnapshot; member: MemberSnapshot | null } | undefined {
    const warm = fresh(keyOf(tenantId, orgId));
    if (warm === undefined) return undefined;
    const userId = subjectId.toLowerCase();
    if (isDirty(userId)) return undefined;
    const member = warm.members.get(userId);
    return member === undefined ? undefined : { org: warm.org, member };
  }

  return {
    cachedOrgAndMember,

    /**
     * Subscribes to cross-instance invalidation, and to this process's writes of user rows (each announced by
     * the users store), which drop the user here and are published to the other instances; call once at start.
     */
    async start(): Promise<Unsubscribe> {
      const off = await kv.subscribe(INVALIDATE_CHANNEL, (message) => {
        if (message.startsWith(USER_MESSAGE)) dropUser(message.slice(USER_MESSAGE.length));
        else drop(message.toLowerCase());
      });
      const offWrite = onUserWrite((userId) => {
        dropUser(userId);
        kv.publish(INVALIDATE_CHANNEL, `${USER_MESSAGE}${userId.toLowerCase()}`).catch((err: unknown) => {
          log.warn({ err, userId }, 'authz cache invalidation could not be published; other instances may lag up to 30 s');
        });
      });
      return async () => { offWrite(); await off(); };
    },

    /** The org's policies and custom roles (exists:false for an unknown org of the tenant). */
    async org(tenantId: string, orgId: string): Promise<OrgSnapshot> {
      return (await entryFor(tenantId, orgId)).entry.org;
    },

    /** The org snapshot and the user's membership in it (null: not a member, or disabled). */
    async orgAndMember(tenantId: string, orgId: string, subjectId: string): Promise<{ org: OrgSnapshot; member: MemberSnapshot | null }> {
      const warm = cachedOrgAndMember(tenantId, orgId, subjectId);
      if (warm !== undefined) return warm;
      const key = keyOf(tenantId, orgId);
      const userId = subjectId.toLowerCase();
      const { entry, member } = await entryFor(tenantId, orgId, userId);
      if (member !== undefined) return { org: entry.org, member };
      if (!isDirty(userId) && entry.members.has(userId)) return { org: entry.org, member: entry.members.get(userId)! };
      if (!entry.org.exists) return { org: entry.org, member: null };
      const startEpoch = epoch.value;
      const loaded = snapshotOf(await sql.tx(tenantId, (tx) => memberStore.get(tx, orgId, userId)));
      // Only into the entry it was read for, and only if nothing changed meanwhile.
      if (epoch.unchanged(startEpoch) && entries.get(key) === entry && !isDirty(userId)) {
        if (entry.members.size >= maxMembers) {
          const oldest = entry.members.keys().next().value;
          if (oldest !== undefined) entry.members.delete(oldest);
        }
        entry.members.set(userId, loaded);
      }
      return { org: entry.org, member: loaded };
    },

    /**
     * Drops the org's entry here at once and on every other instance through pub/sub. Call after the change
     * committed. A failed publish is logged, not thrown: the change stands, other instances catch up within maxAgeMs.
     */
    async invalidate(tenantId: string, orgId: string): Promise<void> {
      const key = keyOf(tenantId, orgId);
      drop(key);
      try {
        await kv.publish(INVALIDATE_CHANNEL, key);
      } catch (err) {
        log.warn({ err, orgId }, 'authz cache invalidation could not be published; other instances may lag up to 30 s');
      }
    },

    /** For tests and diagnostics: how many orgs are cached here. */
    size(): number {
      return entries.size;
    },
  };
}

function snapshotOf(m: { roles: string[]; attributes: Record<string, unknown>; email: string | null; userDisabled: boolean } | null): MemberSnapshot | null {
  if (!m || m.userDisabled) return null;
  return { roles: m.roles, attributes: m.attributes, email: m.email };
}
