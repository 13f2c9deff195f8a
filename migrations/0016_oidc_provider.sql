-- The OpenID Provider (issue 23): one issuer per tenant at PUBLIC_URL/oidc/<slug>, built on oidc-provider.
-- Its clients (registered by the admin plane or by dynamic client registration) and its artifacts
-- (grants, sessions, authorization codes, refresh tokens, opaque access tokens, registration access
-- tokens) are tenant-scoped under RLS like every other table. Interactions live in the KV store (minutes).
CREATE TABLE oidc_clients (
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  client_id text NOT NULL,
  -- the oidc-provider client metadata (RFC 7591 names); client_secret is never stored here
  metadata jsonb NOT NULL,
  -- SHA-256 (hex) of the client secret of a confidential client; null for a public client
  secret_hash text,
  -- 'admin' (the admin plane) or 'dynamic' (RFC 7591 registration)
  source text NOT NULL CHECK (source IN ('admin', 'dynamic')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, client_id)
);
CREATE INDEX oidc_clients_created ON oidc_clients (tenant_id, created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON oidc_clients TO authplane_app;
ALTER TABLE oidc_clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE oidc_clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oidc_clients
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- One row per oidc-provider model instance (Grant, Session, AuthorizationCode, RefreshToken, AccessToken,
-- ClientCredentials, RegistrationAccessToken, ...). grant_id / uid / account_id / client_id are copied out
-- of the payload for revokeByGrantId, findByUid and the account page's list of remembered consents.
CREATE TABLE oidc_artifacts (
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  account_id text,
  client_id text,
  expires_at timestamptz,
  -- set once by the one UPDATE that consumes a code or a refresh token (the second consumer loses)
  consumed_at timestamptz,
  -- Grant rows: the organization the user chose on the consent page (scope `org`); tokens of the grant carry
  -- org and the member's current roles. Not part of the payload, so the provider's upserts leave it alone.
  org_id uuid,
  PRIMARY KEY (tenant_id, model, id)
);
CREATE INDEX oidc_artifacts_grant ON oidc_artifacts (tenant_id, grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_artifacts_uid ON oidc_artifacts (tenant_id, model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_artifacts_account ON oidc_artifacts (tenant_id, account_id, model) WHERE account_id IS NOT NULL;
CREATE INDEX oidc_artifacts_expiry ON oidc_artifacts (expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON oidc_artifacts TO authplane_app;
ALTER TABLE oidc_artifacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE oidc_artifacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oidc_artifacts
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
