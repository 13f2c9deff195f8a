-- Organizations within a tenant: members and their roles, custom roles, ABAC policies, invitations.
-- Child tables reference their org through (tenant_id, org_id), so a row can never point at another
-- tenant's org even if application code passed a foreign id (RLS guards reads; the key guards writes).

CREATE TABLE orgs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
CREATE INDEX orgs_tenant_created ON orgs (tenant_id, created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON orgs TO authplane_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orgs
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- Lets memberships reference a user of the same tenant only.
CREATE UNIQUE INDEX users_tenant_id_id ON users (tenant_id, id);

-- roles: names of built-in roles (owner, admin, member) or of the org's custom roles.
CREATE TABLE org_members (
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  org_id uuid NOT NULL,
  user_id uuid NOT NULL,
  roles text[] NOT NULL CHECK (cardinality(roles) BETWEEN 1 AND 10),
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id),
  FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX org_members_user ON org_members (tenant_id, user_id);
CREATE INDEX org_members_org_created ON org_members (org_id, created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON org_members TO authplane_app;
ALTER TABLE org_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_members
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

CREATE TABLE org_roles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  org_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  description text CHECK (description IS NULL OR length(description) <= 500),
  permissions text[] NOT NULL CHECK (cardinality(permissions) <= 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX org_roles_org_name ON org_roles (org_id, lower(name));
GRANT SELECT, INSERT, UPDATE, DELETE ON org_roles TO authplane_app;
ALTER TABLE org_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_roles
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- resources NULL: the policy applies with or without a resource; condition NULL: always true.
-- seq: creation order, the order decisions consider policies in (timestamps can tie).
CREATE TABLE org_policies (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigserial NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  org_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description text CHECK (description IS NULL OR length(description) <= 500),
  effect text NOT NULL CHECK (effect IN ('allow', 'deny')),
  actions text[] NOT NULL CHECK (cardinality(actions) BETWEEN 1 AND 50),
  resources text[] CHECK (resources IS NULL OR cardinality(resources) <= 50),
  condition jsonb,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX org_policies_org_name ON org_policies (org_id, lower(name));
CREATE INDEX org_policies_org_seq ON org_policies (org_id, seq);
GRANT SELECT, INSERT, DELETE ON org_policies TO authplane_app;
GRANT USAGE ON SEQUENCE org_policies_seq_seq TO authplane_app;
ALTER TABLE org_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_policies
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- token_hash: SHA-256 of the 256-bit invite token (shown once to the inviter and mailed to the invitee).
CREATE TABLE org_invites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  org_id uuid NOT NULL,
  email text NOT NULL CHECK (length(email) <= 254),
  roles text[] NOT NULL CHECK (cardinality(roles) BETWEEN 1 AND 10),
  token_hash bytea NOT NULL,
  invited_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users(id) ON DELETE SET NULL,
  FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX org_invites_token ON org_invites (token_hash);
CREATE INDEX org_invites_org_created ON org_invites (org_id, created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON org_invites TO authplane_app;
ALTER TABLE org_invites ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_invites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_invites
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
