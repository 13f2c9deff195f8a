/**
 * The webhook event types (Standard Webhooks `type`). Services emit them through
 * `webhooks.emit(tx, tenantId, type, data)` inside the transaction that makes the change.
 */
export const WEBHOOK_EVENT_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.disabled', 'user.enabled',
  'email.verified', 'email.changed',
  'password.changed', 'password.reset',
  'session.created', 'session.revoked', 'session.refresh_reuse_detected',
  'mfa.enabled', 'mfa.disabled',
  'api_key.created', 'api_key.revoked',
  'org.created', 'org.deleted',
  'member.added', 'member.removed', 'member.role_changed',
  'invite.created', 'invite.accepted',
  'policy.changed',
  'user.locked_out',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What an endpoint may subscribe to: event types, or '*' for all of them. */
export const SUBSCRIBABLE = ['*', ...WEBHOOK_EVENT_TYPES] as const;

/**
 * The one interface services emit events through (STYLE "Events"): called inside the transaction that
 * commits the change, scoped to `tenantId`, so the event is written exactly when the change is.
 */
export interface Events {
  emit(tx: import('../../db/sql.js').Tx, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<unknown>;
}
