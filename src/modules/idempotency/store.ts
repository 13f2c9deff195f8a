import { kvKey, type Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { deriveKey, open, seal } from '../../lib/crypto.js';
import type { Sql, Tx } from '../../db/sql.js';
import type { TenantScope } from '../../db/scope.js';
import { AppError } from '../../http/errors.js';

/** How long a completed response is replayed (DESIGN §5). */
export const REPLAY_MS = 24 * 60 * 60_000;
/** How long a "running" marker holds the key: longer than any request may run (the SQL and KV timeouts are seconds). */
export const RUNNING_LEASE_MS = 2 * 60_000;
/** Extra store lifetime after the decision times above, so a record is never collected before the clock says it expired. */
const GC_MARGIN_MS = 60 * 60_000;

/**
 * What the key–value store keeps per key: the running claim. `done` records (with a sealed body) were
 * written there by versions before migration 0011; they are still replayed until they expire.
 */
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

/** What a keyed request finds in Postgres before it runs. */
export type Recorded =
  | { kind: 'none' }
  | { kind: 'mismatch' }
  | { kind: 'replay'; status: number; contentType: string | undefined; location: string | undefined; body: string }
  /** The first attempt's effect committed, but it never stored its response (the process died in between). */
  | { kind: 'completed' };

/** The identity of one run of a keyed request. */
export interface Attempt {
  /** the record key (tenant, principal, method, route, client key) */
  key: string;
  /** the tenant of the record; null for platform (admin) requests */
  tenantId: string | null;
  /** the request's fingerprint */
  fp: string;
  /** random per run */
  id: string;
}

/**
 * Idempotency records (VAL-03, VAL-04), in two stores:
 * - the key–value store holds the "running" claim: SET NX before the handler runs, so of two concurrent
 *   first requests exactly one proceeds; it is released when the request has answered, and expires after
 *   RUNNING_LEASE_MS if the process died. It only turns a concurrent duplicate away quickly (409).
 * - Postgres holds the outcome (`idempotency_records`): every unit of work of the running request that
 *   wrote something also writes the record, in the same transaction (`markEffect`), so an effect never
 *   commits without its key being taken; the sealed response is added once the handler answered
 *   (`storeResponse`). The primary key makes a second effect for one key impossible, whatever happened
 *   to the claim: a run whose record conflicts with another run's live record rolls back.
 * Expiry is decided against the injected clock (24 h after completion); store TTLs only collect garbage.
 */
export function createIdempotencyStore(deps: { kv: Kv; sql: Sql; clock: Clock; authSecret: string }) {
  const { kv, sql, clock } = deps;
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

    /**
     * What Postgres says about the key: nothing live (run it), another fingerprint, a stored response,
     * or an effect committed without a stored response.
     */
    async recorded(tenantId: string | null, key: string, fp: string): Promise<Recorded> {
      const { rows } = await sql.tx(tenantId, (tx) => tx.query<{ fingerprint: string; status: number | null; content_type: string | null; location: string | null; body: string | null }>(
        'SELECT fingerprint, status, content_type, location, body FROM idempotency_records WHERE record_key = $1 AND recorded_at >= $2',
        [key, new Date(clock.nowMs() - REPLAY_MS)]));
      const r = rows[0];
      if (!r) return { kind: 'none' };
      if (r.fingerprint !== fp) return { kind: 'mismatch' };
      if (r.body === null || r.status === null) return { kind: 'completed' };
      return { kind: 'replay', status: r.status, contentType: r.content_type ?? undefined, location: r.location ?? undefined, body: open(boxKey, r.body, key).toString('utf8') };
    },

    /**
     * Inside a unit of work of the running request, just before it commits: when the transaction wrote
     * something, takes the key in it. False when it wrote nothing. Rejects with a conflict when another
     * run holds a live record for the key: the transaction then rolls back, and the effect never happens twice.
     */
    async markEffect(tx: Tx, scope: TenantScope, a: Attempt): Promise<boolean> {
      const { rows } = await tx.query<{ wrote: boolean }>('SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS wrote');
      if (!rows[0]?.wrote) return false;
      // The record belongs to the request's tenant, whatever scope this unit of work runs in.
      if (scope !== a.tenantId) await tx.query("SELECT set_config('app.tenant_id', $1, true), set_config('app.all_tenants', 'off', true)", [a.tenantId ?? '']);
      const r = await tx.query(
        `INSERT INTO idempotency_records AS r (record_key, tenant_id, fingerprint, attempt, recorded_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (record_key) DO UPDATE SET fingerprint = excluded.fingerprint, attempt = excluded.attempt, recorded_at = excluded.recorded_at,
           status = NULL, content_type = NULL, location = NULL, body = NULL
         WHERE r.attempt = excluded.attempt OR r.recorded_at < $6
         RETURNING 1`,
        [a.key, a.tenantId, a.fp, a.id, clock.now(), new Date(clock.nowMs() - REPLAY_MS)]);
      if (r.rowCount === 0) {
        throw new AppError('conflict', 'Another request with this Idempotency-Key has already been applied or is being applied; this one was not. Retry with the same key for its result.');
      }
      return true;
    },

    /** Stores the completed response (body sealed) for replay during 24 h; false when another run owns the key. */
    async storeResponse(a: Attempt, res: { status: number; contentType?: string; location?: string; body: string }): Promise<boolean> {
      const r = await sql.tx(a.tenantId, (tx) => tx.query(
        `INSERT INTO idempotency_records AS r (record_key, tenant_id, fingerprint, attempt, recorded_at, status, content_type, location, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (record_key) DO UPDATE SET fingerprint = excluded.fingerprint, attempt = excluded.attempt, recorded_at = excluded.recorded_at,
           status = excluded.status, content_type = excluded.content_type, location = excluded.location, body = excluded.body
         WHERE r.attempt = excluded.attempt OR r.recorded_at < $10
         RETURNING 1`,
        [a.key, a.tenantId, a.fp, a.id, clock.now(), res.status, res.contentType ?? null, res.location ?? null, seal(boxKey, res.body, a.key),
          new Date(clock.nowMs() - REPLAY_MS)]));
      return r.rowCount > 0;
    },

    /** The run answered with an error: its record (an effect marker without a response) goes, so a corrected retry can run. */
    async dropEffect(a: Attempt): Promise<void> {
      await sql.tx(a.tenantId, (tx) => tx.query('DELETE FROM idempotency_records WHERE record_key = $1 AND attempt = $2 AND body IS NULL', [a.key, a.id]));
    },

    /** Releases the running claim (the request has answered, or was refused). */
    async release(key: string): Promise<void> {
      await kv.del(key);
    },
  };
}

