import type { ModuleDef } from '../module.js';
import { WEBHOOK_EVENT_TYPES } from './events.js';
import { webhookRoutes } from './routes.js';

export const webhooksModule: ModuleDef = {
  name: 'webhooks',
  plugin: webhookRoutes,
  discovery: (config) => {
    const b = `${config.basePath}/admin/tenants/{id}/webhooks`;
    return {
      auth: 'Authorization: Bearer ak_… (admin plane)',
      endpoints: {
        list: `GET ${b}?limit&offset`,
        create: { method: 'POST', path: b, body: { url: 'https URL', eventTypes: '["*"] or event types', 'description?': 'string' }, returns: '201 with secret (whsec_…, shown once)' },
        get: `GET ${b}/{endpointId}`,
        update: { method: 'PATCH', path: `${b}/{endpointId}`, body: { 'url?': 'string', 'eventTypes?': 'string[]', 'description?': 'string', 'paused?': 'boolean' } },
        delete: `DELETE ${b}/{endpointId}`,
        rotateSecret: { method: 'POST', path: `${b}/{endpointId}/rotate-secret`, body: { 'overlapSeconds?': '0..604800, default 86400' } },
        deliveries: `GET ${b}/{endpointId}/deliveries?status&limit&offset`,
        redeliver: `POST ${b}/{endpointId}/deliveries/{deliveryId}/redeliver`,
      },
      signing: 'Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature (v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">); verify with the standardwebhooks library',
      delivery: 'at least once (dedupe on webhook-id); retried with exponential backoff for 24 h; an endpoint failing for a day is paused',
      eventTypes: WEBHOOK_EVENT_TYPES,
    };
  },
};
