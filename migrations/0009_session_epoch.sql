-- Per-user session epoch: every revocation-by-user (password reset or change, account claim, disable,
-- "sign out everywhere", MFA enable/disable) increments it in the transaction of the change. A sign-in
-- remembers the epoch it read with the credential it checked, and its session is created only while the
-- user's epoch still has that value (read under a row lock), so a sign-in that was in flight when the
-- credential changed cannot start a session afterwards.
ALTER TABLE users ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
