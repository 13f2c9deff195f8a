import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { errorResponses, Paging } from '../../http/schemas.js';
import type { AdminPrincipal } from '../../http/principal.js';
import {
  CreatedWebhookEndpoint, CreateWebhookBody, DeliveriesQuery, DeliveryParams, EndpointParams, RotateSecretBody, TenantWebhookParams,
  toWebhookDelivery, toWebhookEndpoint, UpdateWebhookBody, WebhookDelivery, WebhookDeliveryList, WebhookEndpoint, WebhookEndpointList,
} from './schemas.js';

function admin(req: FastifyRequest): AdminPrincipal {
  // The guard admits only ak_ keys on auth: 'admin' routes; this is the type-level half of that.
  if (req.auth?.kind !== 'admin') throw new AppError('forbidden', 'The admin plane accepts admin keys (ak_…) only.');
  return req.auth;
}

/** Webhook endpoints of one tenant, on the admin plane (ak_ keys only): /admin/tenants/{id}/webhooks… */
export const webhookRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = deps.services.webhooks;
  const tags = ['Webhooks'];
  const now = () => deps.clock.now();
  const base = '/admin/tenants/:id/webhooks';

  r.get(base, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListWebhooks', tags, summary: 'List a tenant\'s webhook endpoints.', params: TenantWebhookParams, querystring: Paging.strict(),
      response: { 200: WebhookEndpointList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const { items, total } = await svc.list(req.params.id, req.query.limit, req.query.offset);
    return { items: items.map((e) => toWebhookEndpoint(e, now())), total, limit: req.query.limit, offset: req.query.offset };
  });

  r.post(base, {
    config: { auth: 'admin', idempotent: true },
    schema: {
      operationId: 'adminCreateWebhook', tags, summary: 'Register a webhook endpoint; its signing secret is shown once.',
      description: 'Deliveries follow the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256 with the secret). https only unless WEBHOOK_ALLOW_PRIVATE=true; loopback, private, link-local and metadata addresses are refused (checked again at every delivery).',
      params: TenantWebhookParams, body: CreateWebhookBody,
      response: { 201: CreatedWebhookEndpoint, ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 503) },
    },
  }, async (req, reply) => {
    const { endpoint, secret } = await svc.create(admin(req), req.params.id, req.body, auditContext(req));
    return reply.code(201).header('cache-control', 'no-store').send({ ...toWebhookEndpoint(endpoint, now()), secret });
  });

  r.get(`${base}/:endpointId`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminGetWebhook', tags, summary: 'One webhook endpoint (never its secret).', params: EndpointParams,
      response: { 200: WebhookEndpoint, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    return toWebhookEndpoint(await svc.get(req.params.id, req.params.endpointId), now());
  });

  r.patch(`${base}/:endpointId`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminUpdateWebhook', tags, summary: 'Change an endpoint\'s URL, event types or description; pause or resume it.',
      params: EndpointParams, body: UpdateWebhookBody,
      response: { 200: WebhookEndpoint, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => toWebhookEndpoint(await svc.update(admin(req), req.params.id, req.params.endpointId, req.body, auditContext(req)), now()));

  r.delete(`${base}/:endpointId`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminDeleteWebhook', tags, summary: 'Delete an endpoint and its delivery history.', params: EndpointParams,
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req, reply) => {
    await svc.remove(admin(req), req.params.id, req.params.endpointId, auditContext(req));
    return reply.code(204).send();
  });

  r.post(`${base}/:endpointId/rotate-secret`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminRotateWebhookSecret', tags, summary: 'Replace the signing secret (shown once); the old one keeps signing during the overlap.',
      description: 'During the overlap every delivery carries two signatures in webhook-signature (space-separated), one per secret.',
      params: EndpointParams, body: RotateSecretBody,
      response: { 200: CreatedWebhookEndpoint, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const { endpoint, secret } = await svc.rotateSecret(admin(req), req.params.id, req.params.endpointId, req.body?.overlapSeconds ?? 86_400, auditContext(req));
    return reply.header('cache-control', 'no-store').send({ ...toWebhookEndpoint(endpoint, now()), secret });
  });

  r.get(`${base}/:endpointId/deliveries`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminListWebhookDeliveries', tags, summary: 'An endpoint\'s deliveries, newest first, with status and the receiver\'s answer.',
      params: EndpointParams, querystring: DeliveriesQuery,
      response: { 200: WebhookDeliveryList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    admin(req);
    const q = req.query;
    const { items, total } = await svc.listDeliveries(req.params.id, req.params.endpointId, q);
    return { items: items.map(toWebhookDelivery), total, limit: q.limit, offset: q.offset };
  });

  r.post(`${base}/:endpointId/deliveries/:deliveryId/redeliver`, {
    config: { auth: 'admin' },
    schema: {
      operationId: 'adminRedeliverWebhook', tags, summary: 'Send a delivery\'s event again (a new delivery with the same webhook-id).',
      params: DeliveryParams,
      response: { 202: WebhookDelivery, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req, reply) => reply.code(202).send(toWebhookDelivery(await svc.redeliver(admin(req), req.params.id, req.params.endpointId, req.params.deliveryId, auditContext(req)))));
};
