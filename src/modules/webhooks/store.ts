import type { Tx } from '../../db/sql.js';

export interface EndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  description: string;
  event_types: string[];
  status: 'active' | 'paused';
  paused_reason: string | null;
  secret_box: string;
  previous_secret_box: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface DeliveryRow {
  id: string;
  tenant_id: string;
  event_id: string;
  endpoint_id: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  give_up_at: Date;
  last_attempt_at: Date | null;
  response_status: number | null;
  response_body: string | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  /** joined from webhook_events */
  event_type: string;
}

/** A claimed delivery with what the worker needs to send it. */
export interface ClaimedDelivery {
  id: string;
  tenant_id: string;
  event_id: string;
  endpoint_id: string;
  attempts: number;
  give_up_at: Date;
  created_at: Date;
  payload: string;
  url: string;
  secret_box: string;
  previous_secret_box: string | null;
  previous_secret_until: Date | null;
}

const DELIVERY_COLUMNS = `d.id, d.tenant_id, d.event_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.give_up_at,
  d.last_attempt_at, d.response_status, d.response_body, d.last_error, d.created_at, d.updated_at, e.type AS event_type`;

/** Webhook endpoints, events (the outbox) and deliveries. Every function runs under the caller's tenant scope (RLS). */
export const webhookStore = {
  async insertEndpoint(tx: Tx, e: { id: string; tenantId: string; url: string; description: string; eventTypes: string[]; secretBox: string; now: Date }): Promise<EndpointRow> {
    const { rows } = await tx.query<EndpointRow>(
      `INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, secret_box, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *`, [e.id, e.tenantId, e.url, e.description, e.eventTypes, e.secretBox, e.now]);
    return rows[0]!;
  },
  async endpoint(tx: Tx, id: string): Promise<EndpointRow | null> {
    const { rows } = await tx.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = $1', [id]);
    return rows[0] ?? null;
  },
  async listEndpoints(tx: Tx, limit: number, offset: number): Promise<{ items: EndpointRow[]; total: number }> {
    const { rows } = await tx.query<EndpointRow>('SELECT * FROM webhook_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2', [limit, offset]);
    const { rows: c } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_endpoints');
    return { items: rows, total: c[0]!.n };
  },
  /** Applies the given changes; null if unknown. A resume (status active) clears the failure streak. */
  async updateEndpoint(tx: Tx, id: string, p: { url?: string; description?: string; eventTypes?: string[]; status?: 'active' | 'paused'; pausedReason?: string | null; now: Date }): Promise<EndpointRow | null> {
    const { rows } = await tx.query<EndpointRow>(
      `UPDATE webhook_endpoints SET
         url = COALESCE($2, url), description = COALESCE($3, description), event_types = COALESCE($4, event_types),
         status = COALESCE($5, status),
         paused_reason = CASE WHEN $5::text IS NULL THEN paused_reason ELSE $6 END,
         failing_since = CASE WHEN $5::text = 'active' THEN NULL ELSE failing_since END,
         updated_at = $7
       WHERE id = $1 RETURNING *`,
      [id, p.url ?? null, p.description ?? null, p.eventTypes ?? null, p.status ?? null, p.pausedReason ?? null, p.now]);
    return rows[0] ?? null;
  },
  /** Replaces the secret; the old one keeps signing until `previousUntil`. Null if unknown. */
  async rotateSecret(tx: Tx, id: string, o: { secretBox: string; previousBox: string; previousUntil: Date; now: Date }): Promise<EndpointRow | null> {
    const { rows } = await tx.query<EndpointRow>(
      `UPDATE webhook_endpoints SET secret_box = $2, previous_secret_box = $3, previous_secret_until = $4, updated_at = $5
        WHERE id = $1 RETURNING *`, [id, o.secretBox, o.previousBox, o.previousUntil, o.now]);
    return rows[0] ?? null;
  },
  /** Deletes the endpoint and (cascade) its deliveries; false if unknown. */
  /** Deliveries not yet sent for good (due now or waiting for a retry), across the tenants the scope allows. */
  async pendingCount(tx: Tx): Promise<number> {
    const { rows } = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'");
    return rows[0]!.n;
  },

  async deleteEndpoint(tx: Tx, id: string): Promise<boolean> {
    return (await tx.query('DELETE FROM webhook_endpoints WHERE id = $1', [id])).rowCount > 0;
  },

  /**
   * Ids of the tenant's active endpoints subscribed to `type` (directly or by '*'). The tenant is named as well
   * as scoped: a caller in the cross-tenant scope must still reach only this tenant's endpoints.
   */
  async subscribers(tx: Tx, tenantId: string, type: string): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT id FROM webhook_endpoints WHERE tenant_id = $1 AND status = 'active' AND (event_types @> ARRAY[$2]::text[] OR event_types @> ARRAY['*']::text[])`, [tenantId, type]);
    return rows.map((r) => r.id);
  },
  async insertEvent(tx: Tx, e: { id: string; tenantId: string; type: string; payload: string; now: Date }): Promise<void> {
    await tx.query('INSERT INTO webhook_events (id, tenant_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)', [e.id, e.tenantId, e.type, e.payload, e.now]);
  },
  async insertDelivery(tx: Tx, d: { id: string; tenantId: string; eventId: string; endpointId: string; now: Date; giveUpAt: Date }): Promise<void> {
    await tx.query(
      `INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, next_attempt_at, give_up_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $5, $5)`, [d.id, d.tenantId, d.eventId, d.endpointId, d.now, d.giveUpAt]);
  },
  async delivery(tx: Tx, endpointId: string, id: string): Promise<DeliveryRow | null> {
    const { rows } = await tx.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1 AND d.endpoint_id = $2`, [id, endpointId]);
    return rows[0] ?? null;
  },
  async listDeliveries(tx: Tx, endpointId: string, o: { status?: string; limit: number; offset: number }): Promise<{ items: DeliveryRow[]; total: number }> {
    const { rows } = await tx.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
        WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2) ORDER BY d.created_at DESC, d.id LIMIT $3 OFFSET $4`,
      [endpointId, o.status ?? null, o.limit, o.offset]);
    const { rows: c } = await tx.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2::text IS NULL OR status = $2)', [endpointId, o.status ?? null]);
    return { items: rows, total: c[0]!.n };
  },

  /**
   * Claims up to `limit` due deliveries of active endpoints (cross-tenant scope): each row is locked with
   * SKIP LOCKED, so concurrent workers on other instances take other rows, and moved one lease ahead with a
   * fresh claim id before the transaction commits. The HTTP call happens after the commit; a worker that dies
   * meanwhile leaves the row due again when the lease has passed (at-least-once).
   */
  async claimDue(tx: Tx, o: { now: Date; leaseUntil: Date; limit: number; claimId: string }): Promise<ClaimedDelivery[]> {
    const { rows } = await tx.query<ClaimedDelivery>(
      `WITH due AS (
         SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
          WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.status = 'active'
          ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
       UPDATE webhook_deliveries d SET next_attempt_at = $2, claim_id = $4, attempts = d.attempts + 1, updated_at = $1
         FROM due, webhook_events e, webhook_endpoints w
        WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
       RETURNING d.id, d.tenant_id, d.event_id, d.endpoint_id, d.attempts, d.give_up_at, d.created_at, e.payload, w.url, w.secret_box,
                 w.previous_secret_box, w.previous_secret_until`,
      [o.now, o.leaseUntil, o.limit, o.claimId]);
    return rows;
  },
  /**
   * Records an attempt's outcome if the claim still owns the row (a worker whose lease ran out and whose row
   * was claimed again does not overwrite the newer attempt). `next` null → final (succeeded or failed).
   */
  async recordAttempt(tx: Tx, o: { id: string; claimId: string; status: 'pending' | 'succeeded' | 'failed'; next: Date | null; now: Date;
    responseStatus: number | null; responseBody: string | null; error: string | null }): Promise<boolean> {
    const r = await tx.query(
      `UPDATE webhook_deliveries SET status = $3, next_attempt_at = COALESCE($4, next_attempt_at), claim_id = NULL, last_attempt_at = $5,
              response_status = $6, response_body = $7, last_error = $8, updated_at = $5
        WHERE id = $1 AND claim_id = $2`,
      [o.id, o.claimId, o.status, o.next, o.now, o.responseStatus, o.responseBody, o.error]);
    return r.rowCount > 0;
  },
  /**
   * Holds an event against the retention pass until the caller's transaction ends (a redelivery takes it
   * before it adds a delivery). False when the event is gone: a pass that was deleting it has committed.
   */
  async holdEvent(tx: Tx, eventId: string): Promise<boolean> {
    const { rows } = await tx.query('SELECT 1 FROM webhook_events WHERE id = $1 FOR KEY SHARE', [eventId]);
    return rows.length > 0;
  },

  // ---- retention (retention.ts) ----
  /**
   * Tenants with something the retention pass could delete (cross-tenant scope): finished deliveries last
   * changed before `cutoff`, or events written before it that no delivery refers to. Bounded by `limit`.
   */
  async tenantsWithExpired(tx: Tx, cutoff: Date, limit: number): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM (SELECT tenant_id FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2) d
       UNION
       SELECT tenant_id FROM (SELECT e.tenant_id FROM webhook_events e
          WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) ORDER BY e.created_at LIMIT $2) e`,
      [cutoff, limit]);
    return rows.map((r) => r.tenant_id);
  },
  /**
   * Deletes up to `limit` of the tenant's finished (succeeded or failed) deliveries last changed before
   * `cutoff`, oldest first. A finished delivery never becomes pending again (a redelivery is a new row), and
   * rows another instance's pass holds are skipped (SKIP LOCKED), so concurrent passes never wait on each other.
   */
  async deleteExpiredDeliveries(tx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
    return (await tx.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND status <> 'pending' AND updated_at < $2
          ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)`, [tenantId, cutoff, limit])).rowCount;
  },
  /**
   * Deletes up to `limit` of the tenant's events written before `cutoff` that no delivery refers to. An event a
   * redelivery holds (FOR KEY SHARE) is skipped; one that gained a delivery after this statement's snapshot is
   * refused by the foreign key (RESTRICT, migration 0017) and the whole batch rolls back: nothing pending is lost.
   */
  async deleteOrphanEvents(tx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
    return (await tx.query(
      `DELETE FROM webhook_events WHERE id IN (
         SELECT e.id FROM webhook_events e WHERE e.tenant_id = $1 AND e.created_at < $2
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
          ORDER BY e.created_at LIMIT $3 FOR UPDATE SKIP LOCKED)`, [tenantId, cutoff, limit])).rowCount;
  },

  /** A success ends the endpoint's failure streak. */
  async markHealthy(tx: Tx, endpointId: string): Promise<void> {
    await tx.query('UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [endpointId]);
  },
  /**
   * Starts (or continues) the failure streak; pauses the endpoint once it has lasted `pauseAfterMs`. The streak
   * starts when the first event it failed to take was written (`since`), not at the failed attempt: an endpoint
   * whose delivery exhausted a retry window as long as the pause threshold has failed for that whole time.
   * True if it was paused now.
   */
  async markFailing(tx: Tx, endpointId: string, since: Date, now: Date, pauseAfterMs: number): Promise<boolean> {
    await tx.query('UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL', [endpointId, since]);
    const r = await tx.query(
      `UPDATE webhook_endpoints SET status = 'paused', paused_reason = 'failing', updated_at = $2
        WHERE id = $1 AND status = 'active' AND failing_since <= $2::timestamptz - ($3::text || ' milliseconds')::interval`,
      [endpointId, now, String(pauseAfterMs)]);
    return r.rowCount > 0;
  },
};
