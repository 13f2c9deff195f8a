-- Audit chain v2 (issue 24). Rows written from now on are chained with HMAC-SHA256 under a key derived
-- from AUTH_SECRET (chain_version 2), so rewriting the log and recomputing the chain needs the secret.
-- Rows written before this migration keep the public SHA-256 rule (chain_version 1); audit-verify accepts
-- version 1 only before a tenant's first version-2 row. There is no default: every writer names its version.
ALTER TABLE audit_events ADD COLUMN chain_version smallint NOT NULL DEFAULT 1 CHECK (chain_version IN (1, 2));
ALTER TABLE audit_events ALTER COLUMN chain_version DROP DEFAULT;
