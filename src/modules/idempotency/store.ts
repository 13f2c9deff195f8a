import { kvKey, type Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { deriveKey, open, seal } from '../../lib/crypto.js';

/** How long a completed response is replayed (DESIGN §5). */
export const REPLAY_MS = 24 * 60 * 60_000;
/** How long a "running" marker holds the key: longer than any request may run (the SQL and KV timeouts are seconds). */
export const RUNNING_LEASE_MS = 2 * 60_000;
/** Extra store lifetime after the decision times above, so a record is never collected before the clock says it expired. */
const GC_MARGIN_MS = 60 * 60_000;

/** What is kept per key. `body` is always sealed (AES-256-GCM, key derived from AUTH_SECRET, bound to the record key). */
interface RecordData {
  state: 'running' | 'done';
  /** SHA-256 of the canonical request (params, query, body) */
  fp: string;
  /** ms epoch (injected clock) when the request started or completed */
  at: number;
  status?: number;
  contentType?: string;
  location?: string;
  body?: string;
}

export type Begin =
  | { kind: 'proceed' }
  | { kind: 'replay'; status: number; contentType: string | undefined; location: string | undefined; body: string }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' };

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

/**
 * Idempotency records in the key–value store (VAL-03, VAL-04). A record is claimed with SET NX before
 * the handler runs, so of two concurrent first requests exactly one proceeds; its response is stored
 * sealed when it completes. Expiry is decided against the injected clock (24 h after completion);
 * store TTLs only collect garbage. Taking over an expired record is itself a SET NX on a key naming
 * that record, so two late retries cannot both proceed.
 */
export function createIdempotencyStore(deps: { kv: Kv; clock: Clock; authSecret: string }) {
  const { kv, clock } = deps;
  const boxKey = deriveKey(deps.authSecret, 'idempotency');

  const parse = (raw: string): RecordData | null => {
    try {
      const r = JSON.parse(raw) as RecordData;
      return (r.state === 'running' || r.state === 'done') && typeof r.fp === 'string' && Number.isFinite(r.at) ? r : null;
    } catch {
      return null;
    }
  };

  const expired = (r: RecordData, now: number) => now - r.at > (r.state === 'done' ? REPLAY_MS : RUNNING_LEASE_MS);

  const running = (fp: string, now: number) => JSON.stringify({ state: 'running', fp, at: now } satisfies RecordData);

  return {
    /** The store key of a (tenant, principal, method, route pattern, client key) tuple; the parts are hashed by the caller. */
    recordKey: (tenantId: string | null, digest: string) => kvKey(tenantId, 'idem', digest),

    /**
     * Claims `key` for a request with fingerprint `fp`, or says what to answer instead: the stored
     * response (same fingerprint, completed), in_progress (same key still running), mismatch (another
     * fingerprint). Rejects with KvUnavailableError when the store is down: the request must not run.
     */
    async begin(key: string, fp: string): Promise<Begin> {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const now = clock.nowMs();
        if (await kv.set(key, running(fp, now), { nx: true, ttlMs: RUNNING_LEASE_MS + GC_MARGIN_MS })) return { kind: 'proceed' };
        const raw = await kv.get(key);
        if (raw === null) continue; // collected between the two calls: try to claim again
        const r = parse(raw);
        if (r && !expired(r, now)) {
          if (r.fp !== fp) return { kind: 'mismatch' };
          if (r.state === 'running') return { kind: 'in_progress' };
          return {
            kind: 'replay', status: r.status ?? 200, contentType: r.contentType, location: r.location,
            body: r.body ? open(boxKey, r.body, key).toString('utf8') : '',
          };
        }
        // Expired (or unreadable): one taker per stale record, named by its start time and state.
        const takeover = `${key}:takeover:${r ? `${r.state}:${r.at}` : 'corrupt'}`;
        if (!(await kv.set(takeover, '1', { nx: true, ttlMs: REPLAY_MS + GC_MARGIN_MS }))) return { kind: 'in_progress' };
        await kv.set(key, running(fp, now), { ttlMs: RUNNING_LEASE_MS + GC_MARGIN_MS });
        return { kind: 'proceed' };
      }
      return { kind: 'in_progress' };
    },

    /** Stores the completed response (body sealed) for replay during 24 h. */
    async complete(key: string, fp: string, res: { status: number; contentType?: string; location?: string; body: string }): Promise<void> {
      const data: RecordData = {
        state: 'done', fp, at: clock.nowMs(), status: res.status, contentType: res.contentType, location: res.location,
        body: seal(boxKey, res.body, key),
      };
      await kv.set(key, JSON.stringify(data), { ttlMs: REPLAY_MS + GC_MARGIN_MS });
    },

    /** Drops the claim (the request failed or was refused): a retry with the key runs again. */
    async abandon(key: string): Promise<void> {
      await kv.del(key);
    },
  };
}
