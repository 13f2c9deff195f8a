-- User API keys (ck_…): the tenant-scoped key rows, and a lookup that routes a presented key's hash to
-- its tenant (a key carries no tenant, so validation must find the tenant before RLS admits the row).

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- display prefix only ("ck_" + 8 characters); the key itself is never stored, its SHA-256 lives in api_key_lookup
  prefix text NOT NULL CHECK (length(prefix) <= 16),
  scopes text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 50),
  org_id uuid,
  -- the user's "default" key: the one GET /user/api-key shows and POST /user/api-key/regenerate replaces
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_user_live ON api_keys (tenant_id, user_id, created_at) WHERE revoked_at IS NULL;
-- At most one live default key per user; regenerate revokes the old one in the same transaction.
CREATE UNIQUE INDEX api_keys_one_default ON api_keys (tenant_id, user_id) WHERE is_default AND revoked_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON api_keys TO authplane_app;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- hash → (tenant, key id) for live keys only: a row is deleted when its key is revoked.
-- It holds no tenant data (no names, scopes or users; a SHA-256 of a 256-bit random key cannot be
-- reversed), so reading it from any scope is safe, and it must be: validation starts with no tenant.
-- Writes stay tenant-bound: tenant_isolation's WITH CHECK / USING govern INSERT and DELETE.
CREATE TABLE api_key_lookup (
  key_hash bytea PRIMARY KEY CHECK (length(key_hash) = 32),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  key_id uuid NOT NULL UNIQUE REFERENCES api_keys(id) ON DELETE CASCADE
);
GRANT SELECT, INSERT, DELETE ON api_key_lookup TO authplane_app;
ALTER TABLE api_key_lookup ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_lookup FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_lookup
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
CREATE POLICY resolve_by_hash ON api_key_lookup FOR SELECT USING (true);

-- Validates a presented key in one round trip. SECURITY INVOKER: it runs as the app role, so RLS
-- still applies; it scopes the transaction to the tenant that owns the hash for its one read (the
-- presented key is the authority for that tenant) and restores the caller's scope before returning.
CREATE OR REPLACE FUNCTION ap_api_key_by_hash(p_hash bytea)
  RETURNS TABLE (id uuid, tenant_id uuid, user_id uuid, scopes text[], org_id uuid,
                 expires_at timestamptz, revoked_at timestamptz, user_disabled boolean)
  LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
  v_tenant uuid;
  v_key uuid;
  v_prev text;
BEGIN
  SELECT l.tenant_id, l.key_id INTO v_tenant, v_key FROM api_key_lookup l WHERE l.key_hash = p_hash;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  v_prev := current_setting('app.tenant_id', true);
  PERFORM set_config('app.tenant_id', v_tenant::text, true);
  RETURN QUERY
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.org_id, k.expires_at, k.revoked_at, u.disabled
      FROM api_keys k JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
     WHERE k.id = v_key AND k.tenant_id = v_tenant;
  PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
END $$;
GRANT EXECUTE ON FUNCTION ap_api_key_by_hash(bytea) TO authplane_app;
