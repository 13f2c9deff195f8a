import { z } from 'zod';
import { SUBSCRIBABLE } from './events.js';
import type { DeliveryRow, EndpointRow } from './store.js';

const Url = z.string().trim().min(1, 'is required').max(2048, 'must be at most 2048 characters')
  .describe('https URL the events are POSTed to (plain http only with WEBHOOK_ALLOW_PRIVATE=true)');
const EventTypes = z.array(z.enum(SUBSCRIBABLE)).min(1, 'must name at least one event type').max(SUBSCRIBABLE.length)
  .describe('event types to receive, or ["*"] for all');
const Description = z.string().trim().max(200).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const TenantWebhookParams = z.object({ id: z.uuid({ message: 'id must be a uuid' }) });
export const EndpointParams = TenantWebhookParams.extend({ endpointId: z.uuid({ message: 'endpointId must be a uuid' }) });
export const DeliveryParams = EndpointParams.extend({ deliveryId: z.uuid({ message: 'deliveryId must be a uuid' }) });

export const CreateWebhookBody = z.object({ url: Url, eventTypes: EventTypes, description: Description.optional() }).strict();

export const UpdateWebhookBody = z.object({
  url: Url.optional(),
  eventTypes: EventTypes.optional(),
  description: Description.optional(),
  paused: z.boolean().optional().describe('true pauses deliveries; false resumes them (and clears the failure streak)'),
}).strict().refine((b) => Object.keys(b).length > 0, 'must change something: url, eventTypes, description or paused');

export const RotateSecretBody = z.object({
  overlapSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400)
    .describe('how long the previous secret keeps signing beside the new one (default one day, at most seven)'),
}).strict().nullish();

export const DeliveriesQuery = z.object({
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict();

export const WebhookEndpoint = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  url: z.string(),
  description: z.string(),
  eventTypes: z.array(z.string()),
  status: z.enum(['active', 'paused']),
  pausedReason: z.enum(['manual', 'failing']).nullable(),
  failingSince: z.iso.datetime().nullable().describe('the first failure since the last success'),
  previousSecretValidUntil: z.iso.datetime().nullable().describe('while in the future, deliveries are signed with the previous secret too'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'WebhookEndpoint' });

export const CreatedWebhookEndpoint = WebhookEndpoint.extend({
  secret: z.string().describe('the signing secret (whsec_…), shown this once'),
}).meta({ id: 'CreatedWebhookEndpoint' });

export const WebhookEndpointList = z.object({ items: z.array(WebhookEndpoint), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'WebhookEndpointList' });

export const WebhookDelivery = z.object({
  id: z.uuid(),
  endpointId: z.uuid(),
  eventId: z.string().describe('the webhook-id header: the same on every attempt and redelivery'),
  eventType: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: z.iso.datetime().nullable(),
  lastAttemptAt: z.iso.datetime().nullable(),
  responseStatus: z.number().int().nullable(),
  responseBody: z.string().nullable().describe('at most 1 KiB of the receiver\'s answer'),
  lastError: z.string().nullable(),
  createdAt: z.iso.datetime(),
}).meta({ id: 'WebhookDelivery' });

export const WebhookDeliveryList = z.object({ items: z.array(WebhookDelivery), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'WebhookDeliveryList' });

const iso = (d: Date | string | null) => (d == null ? null : new Date(d).toISOString());

export const toWebhookEndpoint = (e: EndpointRow, now: Date): z.infer<typeof WebhookEndpoint> => ({
  id: e.id, tenantId: e.tenant_id, url: e.url, description: e.description, eventTypes: e.event_types, status: e.status,
  pausedReason: e.status === 'paused' ? (e.paused_reason === 'failing' ? 'failing' : 'manual') : null,
  failingSince: iso(e.failing_since),
  previousSecretValidUntil: e.previous_secret_until && new Date(e.previous_secret_until) > now ? iso(e.previous_secret_until) : null,
  createdAt: iso(e.created_at)!, updatedAt: iso(e.updated_at)!,
});

export const toWebhookDelivery = (d: DeliveryRow): z.infer<typeof WebhookDelivery> => ({
  id: d.id, endpointId: d.endpoint_id, eventId: d.event_id, eventType: d.event_type, status: d.status, attempts: d.attempts,
  nextAttemptAt: d.status === 'pending' ? iso(d.next_attempt_at) : null, lastAttemptAt: iso(d.last_attempt_at),
  responseStatus: d.response_status, responseBody: d.response_body, lastError: d.last_error, createdAt: iso(d.created_at)!,
});
