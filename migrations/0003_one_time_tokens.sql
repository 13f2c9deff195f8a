-- One-time email tokens (email verification, password reset, magic links) and the JTIs of used
-- cross-domain handoff tokens.

-- A token is 32 random bytes; only its SHA-256 is stored. It is consumed by one guarded UPDATE
-- (used_at IS NULL AND expires_at > now), so two racers cannot both use it.
CREATE TABLE one_time_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  purpose text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  -- null for a magic link to an address without an account yet (the account is created on use)
  user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  email text NOT NULL CHECK (length(email) <= 254),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE UNIQUE INDEX one_time_tokens_hash ON one_time_tokens (token_hash);
CREATE INDEX one_time_tokens_address ON one_time_tokens (tenant_id, purpose, lower(email));
CREATE INDEX one_time_tokens_expiry ON one_time_tokens (tenant_id, expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON one_time_tokens TO authplane_app;
ALTER TABLE one_time_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE one_time_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON one_time_tokens
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- A handoff token's JTI is inserted when the token is verified; the primary key makes a second
-- verify (or a concurrent one) fail, so each token works once. Rows are kept until the token could
-- no longer pass its expiry check, then swept.
CREATE TABLE cross_site_nonces (
  jti text PRIMARY KEY CHECK (length(jti) <= 64),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  used_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX cross_site_nonces_expiry ON cross_site_nonces (tenant_id, expires_at);
GRANT SELECT, INSERT, DELETE ON cross_site_nonces TO authplane_app;
ALTER TABLE cross_site_nonces ENABLE ROW LEVEL SECURITY;
ALTER TABLE cross_site_nonces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cross_site_nonces
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
