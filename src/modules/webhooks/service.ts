import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sql, Tx } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { actorOf, type AdminPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import { tenantStore } from '../tenants/store.js';
import type { WebhookEventType } from './events.js';
import { newSigningSecret, secretBox } from './signing.js';
import { webhookStore, type DeliveryRow, type EndpointRow } from './store.js';
import { systemConnector, systemResolver, type Connector, type Resolver } from './transport.js';
import { urlProblem } from './url-rule.js';
import { createWebhookWorker, type AttemptReport } from './worker.js';
import { createWebhookRetention } from './retention.js';
import { ALL_TENANTS } from '../../db/scope.js';

export interface WebhookSettings {
  allowPrivate: boolean;
  timeoutMs: number;
  pollMs: number;
  retryWindowMs: number;
  pauseAfterMs: number;
  /** start the poller with the service (WEBHOOK_WORKER) */
  worker: boolean;
  /** finished deliveries and their events older than this are deleted (WEBHOOK_RETENTION_DAYS; 0 keeps them) */
  retentionMs: number;
}

/** Injected in tests: the resolver, and a connector that fails the test if asked for anything off loopback. */
export interface WebhookTransport {
  resolve?: Resolver;
  connect?: Connector;
}

export const OVERLAP_DEFAULT_SECONDS = 86_400;

export type WebhookService = ReturnType<typeof createWebhookService>;

const notFound = (what: string) => new AppError('not_found', `No such ${what}.`);

/**
 * Webhooks: endpoints managed on the admin plane, events written to the outbox by `emit` inside the
 * transaction of the change that caused them, and the worker that delivers them.
 */
export function createWebhookService(deps: {
  sql: Sql; clock: Clock; log: Logger; audit: AuditService; authSecret: string; settings: WebhookSettings;
  transport?: WebhookTransport; onAttempt?: (r: AttemptReport) => void;
}) {
  const { sql, clock, audit, settings } = deps;
  const box = secretBox(deps.authSecret);
  const worker = createWebhookWorker({
    sql, clock, log: deps.log, box, onAttempt: deps.onAttempt,
    resolve: deps.transport?.resolve ?? systemResolver, connect: deps.transport?.connect ?? systemConnector,
    options: { timeoutMs: settings.timeoutMs, pollMs: settings.pollMs, allowPrivate: settings.allowPrivate, pauseAfterMs: settings.pauseAfterMs },
  });

  const retention = createWebhookRetention({ sql, clock, log: deps.log, options: { retentionMs: settings.retentionMs } });

  const checkUrl = (url: string) => {
    const problem = urlProblem(url, { allowPrivate: settings.allowPrivate });
    if (problem) throw new AppError('validation_failed', `Invalid request: url ${problem}.`, { details: [{ path: 'body.url', message: problem }] });
  };

  /** Runs `fn` in the tenant's scope; 404 when the tenant does not exist. */
  const inTenant = <T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> => sql.tx(tenantId, async (tx) => {
    if (!(await tenantStore.byId(tx, tenantId))) throw notFound('tenant');
    return fn(tx);
  });
  const record = (admin: AdminPrincipal, ctx: AuditContext, tenantId: string, action: string, target: string, metadata: Record<string, unknown> = {}) =>
    audit.record({ tenantId, actor: actorOf(admin), action, target, outcome: 'success', ...ctx, metadata });

  return {
    worker,
    retention,
    /** Starts the delivery poller and the retention passes (WEBHOOK_WORKER). */
    start() {
      if (!settings.worker) return;
      worker.start();
      retention.start();
    },
    stop: async () => { await Promise.all([worker.stop(), retention.stop()]); },
    /** Deliveries waiting to be sent, in every tenant (the backlog metric). */
    backlog: (): Promise<number> => sql.tx(ALL_TENANTS, (tx) => webhookStore.pendingCount(tx)),

    /**
     * Writes an event to the outbox inside the caller's transaction (scoped to `tenantId`): one event row and
     * one pending delivery per active endpoint subscribed to `type`; nothing at all when none is. It commits
     * or rolls back with the change, so an event is never sent for a change that did not happen, nor lost for
     * one that did. `data` goes to the receiver as is: ids and public fields, never a secret. Returns the
     * event id (the webhook-id), or null when nobody subscribes.
     */
    async emit(tx: Tx, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<string | null> {
      const endpoints = await webhookStore.subscribers(tx, tenantId, type);
      if (endpoints.length === 0) return null;
      const now = clock.now();
      const id = `msg_${randomUUID().replace(/-/g, '')}`;
      await webhookStore.insertEvent(tx, { id, tenantId, type, payload: JSON.stringify({ type, timestamp: now.toISOString(), data }), now });
      const giveUpAt = new Date(now.getTime() + settings.retryWindowMs);
      for (const endpointId of endpoints) await webhookStore.insertDelivery(tx, { id: randomUUID(), tenantId, eventId: id, endpointId, now, giveUpAt });
      // Sent soon after the commit by this instance's poller (a round started before the commit simply finds nothing yet).
      worker.kick();
      return id;
    },

    /** Creates an endpoint; the signing secret is returned here once. 404 unknown tenant, 400 refused URL. */
    async create(admin: AdminPrincipal, tenantId: string, input: { url: string; eventTypes: string[]; description?: string }, ctx: AuditContext): Promise<{ endpoint: EndpointRow; secret: string }> {
      checkUrl(input.url);
      const secret = newSigningSecret();
      const id = randomUUID();
      const endpoint = await inTenant(tenantId, (tx) => webhookStore.insertEndpoint(tx, {
        id, tenantId, url: input.url, description: input.description ?? '', eventTypes: [...new Set(input.eventTypes)],
        secretBox: box.seal(tenantId, id, secret), now: clock.now(),
      }));
      await record(admin, ctx, tenantId, 'webhook.create', id, { url: input.url, eventTypes: endpoint.event_types });
      return { endpoint, secret };
    },

    list: (tenantId: string, limit: number, offset: number) => inTenant(tenantId, (tx) => webhookStore.listEndpoints(tx, limit, offset)),

    async get(tenantId: string, endpointId: string): Promise<EndpointRow> {
      const e = await inTenant(tenantId, (tx) => webhookStore.endpoint(tx, endpointId));
      if (!e) throw notFound('webhook endpoint');
      return e;
    },

    /** Changes url / event types / description, pauses (`paused: true`) or resumes (which clears the failure streak). */
    async update(admin: AdminPrincipal, tenantId: string, endpointId: string, patch: { url?: string; eventTypes?: string[]; description?: string; paused?: boolean }, ctx: AuditContext): Promise<EndpointRow> {
      if (patch.url !== undefined) checkUrl(patch.url);
      const e = await inTenant(tenantId, (tx) => webhookStore.updateEndpoint(tx, endpointId, {
        url: patch.url, description: patch.description, eventTypes: patch.eventTypes && [...new Set(patch.eventTypes)],
        status: patch.paused === undefined ? undefined : patch.paused ? 'paused' : 'active', pausedReason: patch.paused ? 'manual' : null, now: clock.now(),
      }));
      if (!e) throw notFound('webhook endpoint');
      await record(admin, ctx, tenantId, 'webhook.update', endpointId, { changed: Object.keys(patch) });
      return e;
    },

    async remove(admin: AdminPrincipal, tenantId: string, endpointId: string, ctx: AuditContext): Promise<void> {
      if (!(await inTenant(tenantId, (tx) => webhookStore.deleteEndpoint(tx, endpointId)))) throw notFound('webhook endpoint');
      await record(admin, ctx, tenantId, 'webhook.delete', endpointId);
    },

    /**
     * Replaces the signing secret (returned once). The previous one keeps signing beside it for
     * `overlapSeconds` (0 ends it at once), so receivers can switch without dropping a delivery.
     */
    async rotateSecret(admin: AdminPrincipal, tenantId: string, endpointId: string, overlapSeconds: number, ctx: AuditContext): Promise<{ endpoint: EndpointRow; secret: string }> {
      const secret = newSigningSecret();
      const now = clock.now();
      const endpoint = await inTenant(tenantId, async (tx) => {
        const cur = await webhookStore.endpoint(tx, endpointId);
        if (!cur) return null;
        return webhookStore.rotateSecret(tx, endpointId, {
          secretBox: box.seal(tenantId, endpointId, secret), previousBox: cur.secret_box,
          previousUntil: new Date(now.getTime() + overlapSeconds * 1000), now,
        });
      });
      if (!endpoint) throw notFound('webhook endpoint');
      await record(admin, ctx, tenantId, 'webhook.rotate_secret', endpointId, { overlapSeconds });
      return { endpoint, secret };
    },

    async listDeliveries(tenantId: string, endpointId: string, q: { status?: string; limit: number; offset: number }): Promise<{ items: DeliveryRow[]; total: number }> {
      // A list that tolerates replication lag: the read pool (DATABASE_READ_URL) when configured.
      return sql.readTx(tenantId, async (tx) => {
        if (!(await tenantStore.byId(tx, tenantId))) throw notFound('tenant');
        if (!(await webhookStore.endpoint(tx, endpointId))) throw notFound('webhook endpoint');
        return webhookStore.listDeliveries(tx, endpointId, q);
      });
    },

    /** Queues the delivery's event again for its endpoint, as a new delivery (same webhook-id, so receivers dedupe). */
    async redeliver(admin: AdminPrincipal, tenantId: string, endpointId: string, deliveryId: string, ctx: AuditContext): Promise<DeliveryRow> {
      const now = clock.now();
      const id = randomUUID();
      const d = await inTenant(tenantId, async (tx) => {
        const old = await webhookStore.delivery(tx, endpointId, deliveryId);
        if (!old) return null;
        // Holds the event until this commits, so the retention pass cannot delete it under the new delivery;
        // if a pass deleted it meanwhile (the old delivery had expired), there is nothing to send again.
        if (!(await webhookStore.holdEvent(tx, old.event_id))) return null;
        await webhookStore.insertDelivery(tx, { id, tenantId, eventId: old.event_id, endpointId, now, giveUpAt: new Date(now.getTime() + settings.retryWindowMs) });
        return webhookStore.delivery(tx, endpointId, id);
      });
      if (!d) throw notFound('webhook delivery');
      await record(admin, ctx, tenantId, 'webhook.redeliver', endpointId, { deliveryId, eventId: d.event_id });
      worker.kick();
      return d;
    },
  };
}
