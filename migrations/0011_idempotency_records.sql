-- Idempotency-Key outcomes, kept with the effect they describe (issue 26). The "running" claim stays in
-- the key–value store (a fast 409 for a concurrent duplicate); this table is what makes a key run at most
-- once: each unit of work of a keyed request that wrote something also writes (record_key, attempt) here
-- before it commits, so "the effect committed" and "the key is taken" are one fact. The sealed response
-- is added when the handler has answered; a retry replays it, or learns that the first attempt completed.
CREATE TABLE idempotency_records (
  -- the record key: tenant, principal, method, route pattern and client key, hashed (src/modules/idempotency)
  record_key text PRIMARY KEY,
  -- null for platform requests (the admin plane)
  tenant_id uuid REFERENCES tenants(id),
  -- SHA-256 of the canonical request (params, query, body)
  fingerprint text NOT NULL,
  -- the run that owns the record (random per attempt)
  attempt uuid NOT NULL,
  -- the injected clock's time of the effect, then of the stored response; replays last 24 h from it
  recorded_at timestamptz NOT NULL,
  -- the stored response (null until the handler answered): status, headers, AES-256-GCM sealed body
  status integer,
  content_type text,
  location text,
  body text
);
CREATE INDEX idempotency_records_recorded ON idempotency_records (recorded_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_records TO authplane_app;
ALTER TABLE idempotency_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_records FORCE ROW LEVEL SECURITY;
-- Tenant rows for their tenant only; platform rows (tenant_id null) only in the platform scope.
CREATE POLICY tenant_isolation ON idempotency_records
  USING (tenant_id IS NOT DISTINCT FROM ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id IS NOT DISTINCT FROM ap_current_tenant() OR ap_all_tenants());
