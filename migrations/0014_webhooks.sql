-- Webhooks (issue 19): per-tenant endpoints, the events written in the same transaction as their cause
-- (the outbox), and one delivery per (event, subscribed endpoint) that the workers claim with
-- FOR UPDATE SKIP LOCKED. All three are tenant-scoped under RLS; the workers read across tenants in the
-- cross-tenant scope (ap_all_tenants()), as the admin plane does.
CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- event type names, or '*' for every event
  event_types text[] NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  -- 'manual' (an admin paused it) or 'failing' (it failed for WEBHOOK_PAUSE_AFTER_SECONDS)
  paused_reason text,
  -- the signing secrets, AES-256-GCM sealed with a key derived from AUTH_SECRET (they must be recoverable to sign)
  secret_box text NOT NULL,
  -- the secret before the last rotation: it still signs (beside the new one) until previous_secret_until
  previous_secret_box text,
  previous_secret_until timestamptz,
  -- the first failure since the last success (null while healthy)
  failing_since timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO authplane_app;
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- The outbox: one row per event, written only when some endpoint of the tenant subscribes to it.
CREATE TABLE webhook_events (
  -- the Standard Webhooks message id (webhook-id): the same on every attempt, so receivers can dedupe
  id text PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  type text NOT NULL,
  -- the exact JSON body sent: {type, timestamp, data}
  payload text NOT NULL,
  created_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, DELETE ON webhook_events TO authplane_app;
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_events
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  event_id text NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  -- when a worker may take it next; a claim moves it one lease ahead, so a worker that dies mid-delivery
  -- leaves it to another once the lease has passed
  next_attempt_at timestamptz NOT NULL,
  -- the claim that owns the current attempt: only it may record the outcome
  claim_id uuid,
  -- retries stop here (created_at + WEBHOOK_RETRY_WINDOW_SECONDS); then the delivery is failed
  give_up_at timestamptz NOT NULL,
  last_attempt_at timestamptz,
  response_status integer,
  -- at most 1 KiB of the receiver's answer
  response_body text,
  last_error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO authplane_app;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
