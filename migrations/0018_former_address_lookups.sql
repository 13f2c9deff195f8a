-- Account deletion erases the audit rows that mention the account's addresses (0015). An address replaced by
-- an email change is no longer on the account, so its keyed lookup digest (never the address itself) is kept
-- here until the account is deleted; the tombstone clears it. Covered by the users table's RLS and grants.
ALTER TABLE users ADD COLUMN former_address_lookups text[] NOT NULL DEFAULT '{}';
