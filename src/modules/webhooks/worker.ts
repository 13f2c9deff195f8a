import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { signedHeaders, type secretBox } from './signing.js';
import { webhookStore, type ClaimedDelivery } from './store.js';
import { postWebhook, type Connector, type PostOutcome, type Resolver } from './transport.js';

export interface WebhookWorkerOptions {
  timeoutMs: number;
  pollMs: number;
  allowPrivate: boolean;
  pauseAfterMs: number;
  /** deliveries claimed per round */
  batch?: number;
}

/** What one attempt came to; the hook point for metrics (`onAttempt`). */
export interface AttemptReport {
  tenantId: string;
  endpointId: string;
  outcome: 'succeeded' | 'retrying' | 'failed';
  status: number | null;
  durationMs: number;
}

/** First retry after 10 s, doubling up to one hour between attempts; each delay jittered to 50–100 %. */
export const RETRY_BASE_MS = 10_000;
export const RETRY_MAX_MS = 3_600_000;
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const d = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;

/**
 * The delivery worker each instance runs: claim due deliveries (SKIP LOCKED, one lease), send them outside
 * any transaction, record each outcome under its claim. At-least-once: a delivery is only final once its
 * outcome is recorded; an instance that dies after the claim leaves it to the next worker once the lease
 * has passed, so a receiver may see an event id twice and must dedupe on webhook-id.
 */
export function createWebhookWorker(deps: {
  sql: Sql; clock: Clock; log: Logger; box: ReturnType<typeof secretBox>;
  resolve: Resolver; connect: Connector; options: WebhookWorkerOptions; onAttempt?: (r: AttemptReport) => void;
}) {
  const { sql, clock, log, box, options } = deps;
  const batch = options.batch ?? 20;
  // Longer than any attempt can last (timeout + resolution), so a live worker never loses its claim.
  const leaseMs = Math.max(60_000, options.timeoutMs * 3);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  let stopped = true;
  let again = false;

  const secretsOf = (c: ClaimedDelivery, now: Date): string[] => {
    const secrets = [box.open(c.tenant_id, c.endpoint_id, c.secret_box)];
    if (c.previous_secret_box && c.previous_secret_until && new Date(c.previous_secret_until) > now) {
      secrets.push(box.open(c.tenant_id, c.endpoint_id, c.previous_secret_box));
    }
    return secrets;
  };

  async function attempt(c: ClaimedDelivery, claimId: string): Promise<void> {
    const started = Date.now();
    const at = clock.now();
    let out: PostOutcome;
    try {
      out = await postWebhook({
        url: c.url, body: c.payload, timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate,
        resolve: deps.resolve, connect: deps.connect,
        headers: signedHeaders({ id: c.event_id, at, payload: c.payload, secrets: secretsOf(c, at) }),
      });
    } catch (err) {
      log.error({ err, deliveryId: c.id }, 'webhook attempt failed unexpectedly');
      out = { ok: false, status: null, body: null, error: 'internal error while sending' };
    }
    const now = clock.now();
    const giveUpAt = new Date(c.give_up_at);
    // Retries run until the window has closed: the last one is due at give_up_at itself, and a failure from then on is final.
    const next = new Date(Math.min(now.getTime() + retryDelayMs(c.attempts), giveUpAt.getTime()));
    const outcome = out.ok ? 'succeeded' : now >= giveUpAt ? 'failed' : 'retrying';
    await sql.tx(c.tenant_id, async (tx) => {
      const recorded = await webhookStore.recordAttempt(tx, {
        id: c.id, claimId, status: outcome === 'retrying' ? 'pending' : outcome, next: outcome === 'retrying' ? next : null, now,
        responseStatus: out.status, responseBody: out.body, error: out.error,
      });
      if (!recorded) return;
      if (out.ok) await webhookStore.markHealthy(tx, c.endpoint_id);
      else if (await webhookStore.markFailing(tx, c.endpoint_id, new Date(c.created_at), now, options.pauseAfterMs)) {
        log.warn({ tenantId: c.tenant_id, endpointId: c.endpoint_id }, 'webhook endpoint paused after failing for too long');
      }
    });
    deps.onAttempt?.({ tenantId: c.tenant_id, endpointId: c.endpoint_id, outcome, status: out.status, durationMs: Date.now() - started });
  }

  /** One round: claims up to a batch of due deliveries and sends them concurrently. Returns how many were claimed. */
  async function round(): Promise<number> {
    const claimId = randomUUID();
    const now = clock.now();
    const claimed = await sql.tx(ALL_TENANTS, (tx) => webhookStore.claimDue(tx, { now, leaseUntil: new Date(now.getTime() + leaseMs), limit: batch, claimId }));
    await Promise.all(claimed.map((c) => attempt(c, claimId).catch((err: unknown) => log.error({ err, deliveryId: c.id }, 'webhook outcome not recorded'))));
    return claimed.length;
  }

  /** Runs rounds until nothing is due (or `maxRounds`); resolves with the number of deliveries attempted. */
  async function drain(maxRounds = 50): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxRounds; i++) {
      const n = await round();
      total += n;
      if (n < batch) break;
    }
    return total;
  }

  const schedule = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  function tick() {
    timer = null;
    if (running) { again = true; return; }
    running = drain().catch((err: unknown) => { log.warn({ err }, 'webhook worker round failed'); return 0; });
    void running.finally(() => {
      running = null;
      if (again) { again = false; schedule(0); } else schedule(options.pollMs);
    });
  }

  return {
    /** Delivers everything due now, once (tests and the CLI call this; the poller calls it on its own). */
    runOnce: () => drain(),
    /** Starts polling every `pollMs`. */
    start() {
      if (!stopped) return;
      stopped = false;
      schedule(0);
    },
    /** Asks for a round soon (after an event was written); does nothing while stopped. */
    kick() {
      if (!stopped) schedule(25);
    },
    /** Stops polling and waits for the round in flight. */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
