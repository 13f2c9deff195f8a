-- Passwordless and federated sign-in: Solana wallets and their sign-in nonces, WebAuthn passkeys,
-- and OpenID Connect identities. Every table is tenant-scoped under RLS.

-- A wallet is one sign-in method of one user: a public key belongs to at most one user per tenant,
-- and a user has at most one wallet.
CREATE TABLE wallet_identities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- base58 of the 32-byte Ed25519 public key, as wallets display it
  public_key text NOT NULL CHECK (length(public_key) BETWEEN 32 AND 44),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE UNIQUE INDEX wallet_identities_tenant_key ON wallet_identities (tenant_id, public_key);
CREATE UNIQUE INDEX wallet_identities_tenant_user ON wallet_identities (tenant_id, user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON wallet_identities TO authplane_app;
ALTER TABLE wallet_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wallet_identities
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- Sign-In-With-Solana challenges: the exact message issued, single use (used_at), short-lived.
-- purpose 'link' challenges are bound to the signed-in user who asked for them.
CREATE TABLE solana_nonces (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  public_key text NOT NULL CHECK (length(public_key) BETWEEN 32 AND 44),
  nonce text NOT NULL CHECK (length(nonce) BETWEEN 8 AND 64),
  message text NOT NULL CHECK (length(message) <= 2048),
  purpose text NOT NULL CHECK (purpose IN ('signin', 'link')),
  user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  session_id uuid,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  CHECK ((purpose = 'link') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX solana_nonces_tenant_nonce ON solana_nonces (tenant_id, nonce);
CREATE INDEX solana_nonces_lookup ON solana_nonces (tenant_id, public_key, purpose, expires_at) WHERE used_at IS NULL;
CREATE INDEX solana_nonces_expiry ON solana_nonces (tenant_id, expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON solana_nonces TO authplane_app;
ALTER TABLE solana_nonces ENABLE ROW LEVEL SECURITY;
ALTER TABLE solana_nonces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON solana_nonces
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- WebAuthn credentials. A credential id is unique per tenant (a passkey registered in one tenant is
-- unknown to every other). The public key is the COSE key; not a secret, stored as is.
CREATE TABLE passkey_credentials (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- base64url of the raw credential id (at most 1023 bytes, WebAuthn §7.1)
  credential_id text NOT NULL CHECK (length(credential_id) BETWEEN 1 AND 1364),
  public_key bytea NOT NULL,
  counter bigint NOT NULL DEFAULT 0 CHECK (counter >= 0),
  transports text[] NOT NULL DEFAULT '{}',
  -- 'singleDevice' (BE=0) or 'multiDevice' (BE=1); BE never changes for a credential
  device_type text NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
  backed_up boolean NOT NULL,
  aaguid text,
  name text CHECK (name IS NULL OR length(name) <= 100),
  created_at timestamptz NOT NULL,
  last_used_at timestamptz
);
CREATE UNIQUE INDEX passkey_credentials_tenant_cred ON passkey_credentials (tenant_id, credential_id);
CREATE INDEX passkey_credentials_user ON passkey_credentials (tenant_id, user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON passkey_credentials TO authplane_app;
ALTER TABLE passkey_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE passkey_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON passkey_credentials
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());

-- OpenID Connect identities: a user is identified by (issuer, subject), never by email (ASVS 6.8.1).
CREATE TABLE federated_identities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  issuer text NOT NULL CHECK (length(issuer) <= 2048),
  subject text NOT NULL CHECK (length(subject) <= 255),
  -- the provider's last reported email, for display only (linking never reads it back)
  email text CHECK (email IS NULL OR length(email) <= 254),
  created_at timestamptz NOT NULL,
  last_used_at timestamptz
);
CREATE UNIQUE INDEX federated_identities_tenant_iss_sub ON federated_identities (tenant_id, issuer, subject);
CREATE INDEX federated_identities_user ON federated_identities (tenant_id, user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON federated_identities TO authplane_app;
ALTER TABLE federated_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE federated_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON federated_identities
  USING (tenant_id = ap_current_tenant() OR ap_all_tenants())
  WITH CHECK (tenant_id = ap_current_tenant() OR ap_all_tenants());
