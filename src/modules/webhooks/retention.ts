import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { webhookStore } from './store.js';

export interface RetentionOptions {
  /** finished deliveries (and then their events) older than this are deleted; 0 keeps everything */
  retentionMs: number;
  /** rows per delete (one short transaction each) */
  batch?: number;
  /** batches per tenant and table in one pass: a large backlog is spread over several passes */
  maxBatches?: number;
  /** time between passes */
  intervalMs?: number;
}

export interface RetentionResult {
  deliveries: number;
  events: number;
  /** true when a tenant still had rows past the cap: the next pass comes soon */
  more: boolean;
}

export type WebhookRetention = ReturnType<typeof createWebhookRetention>;

/** restrict_violation / foreign_key_violation: an event gained a delivery while its delete ran (RESTRICT, migration 0017). */
const REFUSED_BY_FK = new Set(['23001', '23503']);

/**
 * Webhook retention (docs/decisions.md "Webhook retention"). Each pass, per tenant and in that tenant's
 * scope (RLS applies as for any request): deletes its succeeded/failed deliveries last changed before
 * now − retention, then its events of that age that no delivery refers to any more, in batches of `batch`
 * rows, each its own short transaction. Pending deliveries are never touched. Several instances may run
 * passes at once: every batch picks its rows with FOR UPDATE SKIP LOCKED, so two passes delete different
 * rows and neither waits for the other; a redelivery racing an event's delete either holds the event first
 * (the pass skips it) or finds it gone (404), and the foreign key (RESTRICT) refuses the delete of an event
 * that gained a delivery after the pass looked, so a pending delivery is never lost.
 */
export function createWebhookRetention(deps: { sql: Sql; clock: Clock; log: Logger; options: RetentionOptions }) {
  const { sql, clock, log, options } = deps;
  const batch = options.batch ?? 500;
  const maxBatches = options.maxBatches ?? 20;
  const intervalMs = options.intervalMs ?? 3_600_000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<RetentionResult> | null = null;
  let stopped = true;

  /** Deletes in batches until a batch comes back short, or `maxBatches`; true if rows may be left. */
  async function batches(del: () => Promise<number>, count: (n: number) => void): Promise<boolean> {
    for (let i = 0; i < maxBatches; i++) {
      let n: number;
      try {
        n = await del();
      } catch (err) {
        // A redelivery added a delivery to an event this batch was deleting: the batch rolled back, nothing was lost; the next pass retries.
        if (REFUSED_BY_FK.has((err as { code?: string }).code ?? '')) return true;
        throw err;
      }
      count(n);
      if (n < batch) return false;
    }
    return true;
  }

  /** One pass over every tenant with expired rows (the tenants are named by a cross-tenant read; the deletes run in each tenant's scope). */
  async function runOnce(): Promise<RetentionResult> {
    const result: RetentionResult = { deliveries: 0, events: 0, more: false };
    if (options.retentionMs <= 0) return result;
    const cutoff = new Date(clock.nowMs() - options.retentionMs);
    const tenants = await sql.tx(ALL_TENANTS, (tx) => webhookStore.tenantsWithExpired(tx, cutoff, 1000));
    for (const tenantId of tenants) {
      const moreDeliveries = await batches(
        () => sql.tx(tenantId, (tx) => webhookStore.deleteExpiredDeliveries(tx, tenantId, cutoff, batch)), (n) => { result.deliveries += n; });
      const moreEvents = await batches(
        () => sql.tx(tenantId, (tx) => webhookStore.deleteOrphanEvents(tx, tenantId, cutoff, batch)), (n) => { result.events += n; });
      result.more ||= moreDeliveries || moreEvents;
    }
    if (result.deliveries + result.events > 0) log.info({ ...result, cutoff }, 'webhook retention: deleted old deliveries and events');
    return result;
  }

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  function tick() {
    timer = null;
    running = runOnce().catch((err: unknown) => { log.warn({ err }, 'webhook retention pass failed'); return { deliveries: 0, events: 0, more: false }; });
    void running.then((r) => {
      running = null;
      // Jittered, so instances started together do not run their passes in step.
      schedule(r.more ? 1000 : Math.round(intervalMs * (0.75 + Math.random() * 0.5)));
    });
  }

  return {
    /** One pass now (tests call this; the timer calls it on its own). */
    runOnce,
    /** Runs a pass every `intervalMs` (jittered), the first one a minute after the start. Does nothing when retention is 0. */
    start() {
      if (!stopped || options.retentionMs <= 0) return;
      stopped = false;
      schedule(Math.min(intervalMs, 60_000));
    },
    /** Stops the timer and waits for the pass in flight. */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
