-- Account deletion (issue 15): a deleted user keeps its row as a pseudonymous tombstone — id, tenant,
-- timestamps, session epoch — so the audit chain that names the id stays intact; every personal field is
-- erased and the account is disabled. deleted_at tells a tombstone from a merely disabled account (the
-- admin plane refuses to enable it).
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
