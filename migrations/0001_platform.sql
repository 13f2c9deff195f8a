-- Platform: the application role, tenancy helpers, tenants, admin keys, the audit log.

-- The role every unit of work runs as: no BYPASSRLS, so row-level security always applies.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authplane_app') THEN
    BEGIN
      CREATE ROLE authplane_app NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another database created it concurrently
    END;
  END IF;
  -- A non-superuser owner must be a member to SET ROLE; superusers may always.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, 'authplane_app', 'MEMBER') THEN
    EXECUTE format('GRANT authplane_app TO %I', current_user);
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO authplane_app;

CREATE OR REPLACE FUNCTION ap_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE OR REPLACE FUNCTION ap_all_tenants() RETURNS boolean
  LANGUAGE sql STABLE AS $$ SELECT coalesce(current_setting('app.all_tenants', true), '') = 'on' $$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON tenants TO authplane_app;
INSERT INTO tenants (slug, name) VALUES ('default', 'Default');

CREATE TABLE admin_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  key_hash bytea NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz
);
GRANT SELECT, INSERT, UPDATE ON admin_keys TO authplane_app;

-- Append-only for the app role (SELECT + INSERT only); each row chains the hash of its tenant's previous row.
CREATE TABLE audit_events (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  tenant_id uuid REFERENCES tenants(id),
  occurred_at timestamptz NOT NULL,
  actor_type text NOT NULL,
  actor_id text,
  action text NOT NULL,
  target text,
  outcome text NOT NULL,
  ip text,
  user_agent text,
  request_id text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_events_tenant_seq ON audit_events (tenant_id, seq DESC);
CREATE INDEX audit_events_action ON audit_events (action, seq DESC);
GRANT SELECT, INSERT ON audit_events TO authplane_app;
GRANT USAGE ON SEQUENCE audit_events_seq_seq TO authplane_app;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id IS NOT DISTINCT FROM ap_current_tenant() OR ap_all_tenants());
