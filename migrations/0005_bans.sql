-- Permanent IP bans (DESIGN §5): a platform table, keyed on the derived client address
-- (an IPv4 address, or an IPv6 /64 written as "2001:db8:0:0::/64"), never on a forwarded header.
-- A ban is lifted by setting lifted_at (the row stays, with who lifted it, as history).

CREATE TABLE bans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  ip text NOT NULL CHECK (length(ip) BETWEEN 1 AND 64),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
  -- lockouts counted in the 24 h before the ban
  lockouts integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
  created_at timestamptz NOT NULL,
  lifted_at timestamptz,
  lifted_by text CHECK (lifted_by IS NULL OR length(lifted_by) <= 200)
);
-- At most one active ban per address: concurrent lockouts on two instances insert one row.
CREATE UNIQUE INDEX bans_active_ip ON bans (ip) WHERE lifted_at IS NULL;
CREATE INDEX bans_created ON bans (created_at DESC);
-- No DELETE: lifting keeps the row.
GRANT SELECT, INSERT, UPDATE ON bans TO authplane_app;
