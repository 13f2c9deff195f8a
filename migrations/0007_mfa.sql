-- MFA: one TOTP factor per user and its recovery codes.

-- enabled_at IS NULL: a pending setup (the secret awaits its first valid code at /mfa/enable).
-- secret_sealed: the base32 secret, AES-256-GCM under a key derived from AUTH_SECRET, bound to tenant and user.
-- last_step: the last RFC 6238 time step accepted for this user; a code is accepted only for a later
-- step, in one guarded UPDATE (replay protection shared by every verifier).
CREATE TABLE user_mfa (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  secret_sealed text NOT NULL,
  enabled_at timestamptz,
  last_step bigint,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX user_mfa_tenant ON user_mfa (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON user_mfa TO authplane_app;
ALTER TABLE user_mfa ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_mfa FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_mfa
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- Single-use recovery codes: keyed HMAC-SHA-256 digests only; used_at is set by one guarded UPDATE.
CREATE TABLE mfa_recovery_codes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash bytea NOT NULL,
  created_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE UNIQUE INDEX mfa_recovery_codes_user_hash ON mfa_recovery_codes (user_id, code_hash);
CREATE INDEX mfa_recovery_codes_tenant ON mfa_recovery_codes (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_recovery_codes TO authplane_app;
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mfa_recovery_codes
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
