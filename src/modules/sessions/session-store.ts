import type { Kv, KvWrite } from '../../kv/kv.js';
import { kvKey } from '../../kv/kv.js';

/** A session record. Immutable once written; the mutable parts (step-up, active org) live in keys of their own. */
export interface Session {
  id: string;
  tenantId: string;
  userId: string;
  createdAt: number;
  /** absolute end (ms epoch): the refresh lifetime counted from sign-in */
  expiresAt: number;
  amr: string[];
  method: string;
  ip: string | null;
  userAgent: string | null;
}

export interface ActiveOrg { orgId: string; roles: string[] }

export interface SessionCheck {
  session: Session | null;
  jtiRevoked: boolean;
  stepUpAt: number | null;
}

/**
 * Every key of a user's sessions carries the user as its hash tag (`{<tenant>:<userId>}`): a session, its
 * side keys, the user's index and the revoked-token markers of the user's access tokens are read (check:
 * one MGET) and written (writeAll: one MULTI) together, so they must share one Cluster slot; different
 * users spread over every master.
 */
const k = {
  session: (t: string, uid: string, sid: string) => kvKey(t, 'sess', uid, sid),
  byUser: (t: string, uid: string) => kvKey(t, 'user-sess', uid),
  jti: (t: string, uid: string, jti: string) => kvKey(t, 'jti', uid, jti),
  stepUp: (t: string, uid: string, sid: string) => kvKey(t, 'sess-su', uid, sid),
  org: (t: string, uid: string, sid: string) => kvKey(t, 'sess-org', uid, sid),
};

const parse = <T>(s: string | null): T | null => {
  if (!s) return null;
  try { return JSON.parse(s) as T; } catch { return null; }
};

/** The writes that end one session: its record, its side keys and its entry in the user's index. */
const endWrites = (tenantId: string, userId: string, sid: string): KvWrite[] => [
  { op: 'del', keys: [k.session(tenantId, userId, sid), k.stepUp(tenantId, userId, sid), k.org(tenantId, userId, sid)] },
  { op: 'srem', key: k.byUser(tenantId, userId), member: sid },
];

/**
 * Sessions in the key–value store, indexed by user; JTI revocation markers. A record and its index
 * entry are written and removed in one atomic step (Kv.writeAll) and a record is only ever updated in
 * place (SET XX), so an ended session cannot be recreated and no live one can fall outside the index
 * that ending all of a user's sessions walks.
 */
export function createSessionStore(kv: Kv) {
  return {
    /** Writes a new session and its index entry in one atomic step. */
    async put(s: Session, nowMs: number): Promise<void> {
      const ttl = Math.max(1, s.expiresAt - nowMs);
      await kv.writeAll([
        { op: 'set', key: k.session(s.tenantId, s.userId, s.id), value: JSON.stringify(s), ttlMs: ttl },
        { op: 'sadd', key: k.byUser(s.tenantId, s.userId), member: s.id, ttlMs: ttl },
      ]);
    },
    /**
     * Replaces a live session's record (its TTL kept); false, writing nothing, when the session has
     * ended meanwhile: an update can never bring an ended session back.
     */
    async update(s: Session): Promise<boolean> {
      return kv.set(k.session(s.tenantId, s.userId, s.id), JSON.stringify(s), { xx: true });
    },
    /** The session `sid` of user `userId`; null when it has ended or is not that user's. */
    async get(tenantId: string, userId: string, sid: string): Promise<Session | null> {
      return parse<Session>(await kv.get(k.session(tenantId, userId, sid)));
    },
    /**
     * One round trip: the session, whether the JTI is revoked, and the last step-up. (`o.fresh` matters to
     * the caching wrapper in revocations.ts: this store always reads.)
     */
    async check(tenantId: string, userId: string, sid: string, jti: string, _o?: { fresh?: boolean }): Promise<SessionCheck> {
      const [s, j, su] = await kv.mget([k.session(tenantId, userId, sid), k.jti(tenantId, userId, jti), k.stepUp(tenantId, userId, sid)]);
      return { session: parse<Session>(s ?? null), jtiRevoked: j !== null && j !== undefined, stepUpAt: su ? Number(su) : null };
    },
    /** The check when it can be answered from memory without I/O; this store keeps none (see revocations.ts). */
    checkCached(_tenantId: string, _sid: string, _jti: string): SessionCheck | undefined {
      return undefined;
    },
    /** Deletes the session, its side keys and its index entry in one atomic step. */
    async delete(tenantId: string, userId: string, sid: string): Promise<void> {
      await kv.writeAll(endWrites(tenantId, userId, sid));
    },
    /**
     * Ends every session of a user but `except`, each record removed together with its side keys and
     * index entry; returns the ids that were live. Callers hold the user's epoch lock (sessionEpochs.bump)
     * so no session of this user can be created while this runs.
     */
    async deleteAllOfUser(tenantId: string, userId: string, except?: string): Promise<string[]> {
      const ids = (await kv.smembers(k.byUser(tenantId, userId))).filter((id) => id !== except);
      if (!ids.length) return [];
      const vals = await kv.mget(ids.map((id) => k.session(tenantId, userId, id)));
      await kv.writeAll(ids.flatMap((id) => endWrites(tenantId, userId, id)));
      return ids.filter((_, i) => vals[i] !== null && vals[i] !== undefined);
    },
    /** Live sessions of a user; index entries whose session expired are pruned. */
    async listByUser(tenantId: string, userId: string): Promise<Session[]> {
      const ids = await kv.smembers(k.byUser(tenantId, userId));
      if (!ids.length) return [];
      const vals = await kv.mget(ids.map((id) => k.session(tenantId, userId, id)));
      const out: Session[] = [];
      for (let i = 0; i < ids.length; i++) {
        const s = parse<Session>(vals[i] ?? null);
        if (s) out.push(s);
        else await kv.srem(k.byUser(tenantId, userId), ids[i]!);
      }
      return out.sort((a, b) => b.createdAt - a.createdAt);
    },
    /** Revokes one access token (`jti`) of user `userId` until `ttlMs` from now. */
    async revokeJti(tenantId: string, userId: string, jti: string, ttlMs: number): Promise<void> {
      await kv.set(k.jti(tenantId, userId, jti), '1', { ttlMs: Math.max(1, ttlMs) });
    },
    async setStepUp(tenantId: string, userId: string, sid: string, atMs: number, ttlMs: number): Promise<void> {
      await kv.set(k.stepUp(tenantId, userId, sid), String(atMs), { ttlMs });
    },
    async setActiveOrg(tenantId: string, userId: string, sid: string, org: ActiveOrg | null, ttlMs: number): Promise<void> {
      if (!org) await kv.del(k.org(tenantId, userId, sid));
      else await kv.set(k.org(tenantId, userId, sid), JSON.stringify(org), { ttlMs: Math.max(1, ttlMs) });
    },
    async activeOrg(tenantId: string, userId: string, sid: string): Promise<ActiveOrg | null> {
      return parse<ActiveOrg>(await kv.get(k.org(tenantId, userId, sid)));
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
