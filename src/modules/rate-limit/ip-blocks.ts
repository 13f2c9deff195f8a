import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { kvKey, type Kv, type Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { banStore } from './ban-store.js';
import { RESYNC } from './limits.js';

/** Redis set of `<address>|<until ms>` entries: the shared record of current lockouts. */
const LOCKOUT_INDEX = kvKey(null, 'rl', 'lockouts');
/** Messages `lock|<address>|<until>`, `unlock|<address>`, `ban|<address>|<id>`, `unban|<address>`. */
const CHANNEL = 'rl:blocks';

export type IpBlocks = ReturnType<typeof createIpBlocks>;

/**
 * Every instance's in-process view of lockouts and bans, so that checking an address on each request
 * costs neither a Redis nor a Postgres round trip. Changes are written to the shared stores first
 * (lockouts: a Redis set; bans: Postgres), applied locally, and announced on pub/sub; each instance
 * also re-reads lockouts every 5 s and bans every 30 s, which bounds how stale a view can be when a
 * message is lost. Messages published while the subscriber was away are lost for sure, so both are also
 * re-read as soon as the store's subscription generation says it is back (a deny list is kept, not
 * forgotten, meanwhile). Lockout expiry is decided with the injected clock against the stored end time;
 * Redis TTLs only collect garbage.
 */
export function createIpBlocks(deps: { sql: Sql; kv: Kv; clock: Clock; log: Logger }) {
  const { sql, kv, clock, log } = deps;
  let lockouts = new Map<string, number>();
  let bans = new Map<string, string>();
  // Bumped on every local change or message, so a re-read that overlapped one is retried rather than
  // overwriting the newer state with an older snapshot.
  let lockVersion = 0;
  let banVersion = 0;

  const parseEntry = (m: string): [string, number] | null => {
    const bar = m.lastIndexOf('|');
    const until = Number(m.slice(bar + 1));
    return bar > 0 && Number.isSafeInteger(until) ? [m.slice(0, bar), until] : null;
  };

  async function reloadLockouts(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const seen = lockVersion;
      const generation = kv.subscriptionGeneration();
      const members = await kv.smembers(LOCKOUT_INDEX);
      if (seen !== lockVersion || generation !== kv.subscriptionGeneration()) continue;
      const now = clock.nowMs();
      const next = new Map<string, number>();
      for (const m of members) {
        const e = parseEntry(m);
        if (!e) continue;
        if (e[1] <= now) {
          await kv.srem(LOCKOUT_INDEX, m);
          continue;
        }
        next.set(e[0], Math.max(e[1], next.get(e[0]) ?? 0));
      }
      lockouts = next;
      return;
    }
  }

  async function reloadBans(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const seen = banVersion;
      const generation = kv.subscriptionGeneration();
      const rows = await sql.tx(null, (tx) => banStore.active(tx));
      if (seen !== banVersion || generation !== kv.subscriptionGeneration()) continue;
      bans = new Map(rows.map((r) => [r.ip, r.id]));
      return;
    }
  }

  function onMessage(message: string): void {
    const [kind, ip, arg] = message.split('|');
    if (!ip) return;
    if (kind === 'lock') {
      lockVersion += 1;
      const until = Number(arg);
      if (Number.isSafeInteger(until)) lockouts.set(ip, Math.max(until, lockouts.get(ip) ?? 0));
    } else if (kind === 'unlock') {
      lockVersion += 1;
      lockouts.delete(ip);
    } else if (kind === 'ban' && arg) {
      banVersion += 1;
      bans.set(ip, arg);
    } else if (kind === 'unban') {
      banVersion += 1;
      bans.delete(ip);
    }
  }

  const warn = (what: string) => (err: unknown) => log.warn({ err }, `rate limit: re-reading ${what} failed; keeping the current view`);

  // The live subscription generation the view last caught up with (see Kv.subscriptionGeneration).
  let caughtUp = kv.subscriptionGeneration();
  /** On the first check after the subscriber is back, re-reads both in the background; otherwise one compare. */
  function catchUp(): void {
    const g = kv.subscriptionGeneration();
    if (g === caughtUp || (g & 1) === 0) return;
    caughtUp = g;
    reloadBans().catch(warn('bans'));
    reloadLockouts().catch(warn('lockouts'));
  }

  return {
    /** Loads the current bans (Postgres) and lockouts (Redis), subscribes, and starts the periodic re-reads. */
    async start(): Promise<Unsubscribe> {
      await reloadBans();
      // Redis may be down at start: the limited routes then answer 503 anyway, and the next re-read catches up.
      await reloadLockouts().catch(warn('lockouts'));
      const unsubscribe = await kv.subscribe(CHANNEL, onMessage);
      const timers = [
        setInterval(() => { reloadLockouts().catch(warn('lockouts')); }, RESYNC.lockoutsMs),
        setInterval(() => { reloadBans().catch(warn('bans')); }, RESYNC.bansMs),
      ];
      for (const t of timers) t.unref();
      return async () => {
        for (const t of timers) clearInterval(t);
        await unsubscribe();
      };
    },

    /** The id of the active ban on this address (a canonical client key), or null. */
    bannedId(ip: string): string | null {
      catchUp();
      return bans.get(ip) ?? null;
    },

    /** When this address's lockout ends (ms epoch), or null when it is not locked out now. */
    lockedUntil(ip: string): number | null {
      catchUp();
      const until = lockouts.get(ip);
      if (until === undefined) return null;
      if (until <= clock.nowMs()) return null;
      return until;
    },

    /** Records a lockout in the shared index, applies it here and tells the other instances. */
    async lock(ip: string, until: number): Promise<void> {
      await kv.sadd(LOCKOUT_INDEX, `${ip}|${until}`, Math.max(1, until - clock.nowMs()));
      lockVersion += 1;
      lockouts.set(ip, Math.max(until, lockouts.get(ip) ?? 0));
      await kv.publish(CHANNEL, `lock|${ip}|${until}`);
    },

    /** Ends any lockout of this address everywhere. */
    async unlock(ip: string): Promise<void> {
      for (const m of await kv.smembers(LOCKOUT_INDEX)) {
        if (parseEntry(m)?.[0] === ip) await kv.srem(LOCKOUT_INDEX, m);
      }
      lockVersion += 1;
      lockouts.delete(ip);
      await kv.publish(CHANNEL, `unlock|${ip}`);
    },

    /** Applies a ban already written to Postgres, here and on the other instances. */
    async banned(ip: string, id: string): Promise<void> {
      banVersion += 1;
      bans.set(ip, id);
      await kv.publish(CHANNEL, `ban|${ip}|${id}`);
    },

    /** Applies a lift already written to Postgres, here and on the other instances. */
    async unbanned(ip: string): Promise<void> {
      banVersion += 1;
      bans.delete(ip);
      await kv.publish(CHANNEL, `unban|${ip}`);
    },

    /** Re-reads both from the shared stores now (tests; the timers do this periodically). */
    async resync(): Promise<void> {
      await reloadBans();
      await reloadLockouts();
    },
  };
}
