-- Audit chain v3: personal fields can be erased without breaking the chain (issue 15, account deletion).
-- A version-3 row's HMAC covers a keyed digest of each personal field (IP, user agent, typed addresses,
-- names, key labels, …) instead of the field itself; `personal` lists those fields and their digests:
--   [{"p": ["ip"], "d": "<hex>"}, {"p": ["metadata", "email"], "d": "<hex>"}, …]
-- so blanking a listed field keeps the row verifying. `erasure_keys` holds keyed digests (per tenant) of the
-- addresses the row mentions: how erasure finds rows where someone typed a deleted user's address, without
-- reading plaintext. It is an index, not content: not covered by the hash, and cleared by erasure.
-- Rows of versions 1 and 2 keep their columns NULL and their rule.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_chain_version_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_chain_version_check CHECK (chain_version IN (1, 2, 3));
ALTER TABLE audit_events ADD COLUMN personal jsonb;
ALTER TABLE audit_events ADD COLUMN erasure_keys text[];
ALTER TABLE audit_events ADD COLUMN erased_at timestamptz;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_v3_personal CHECK (chain_version < 3 OR jsonb_typeof(personal) = 'array');
CREATE INDEX audit_events_erasure_keys ON audit_events USING gin (erasure_keys);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id);
CREATE INDEX audit_events_target ON audit_events (tenant_id, target);

-- The metadata with every personal path a row lists replaced by "[erased]" (other paths untouched).
CREATE FUNCTION ap_audit_blank_metadata(m jsonb, personal jsonb) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  e jsonb;
  p text[];
BEGIN
  FOR e IN SELECT x FROM jsonb_array_elements(coalesce(personal, '[]'::jsonb)) AS x LOOP
    IF e->'p'->>0 = 'metadata' AND jsonb_array_length(e->'p') > 1 THEN
      p := (ARRAY(SELECT jsonb_array_elements_text(e->'p')))[2:];
      IF m #> p IS NOT NULL THEN
        m := jsonb_set(m, p, '"[erased]"'::jsonb, false);
      END IF;
    END IF;
  END LOOP;
  RETURN m;
END $$;

-- The app role may SELECT and INSERT audit rows, never UPDATE or DELETE them. This is its one narrow way to
-- change a row: for a user that is already a tombstone (users.deleted_at set, in the caller's own tenant),
-- blank the personal fields that version-3 rows list in `personal` — of rows the user did or that were done
-- to the user (actor_id / target), and of rows whose erasure_keys meet `lookups` (keyed digests of the user's
-- address, computed by the app) — and clear their erasure_keys. Nothing else of any row can change through it;
-- the chain keeps verifying because the hash covers the digests, not the values.
CREATE FUNCTION ap_audit_erase(p_user_id uuid, p_lookups text[]) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  t uuid := ap_current_tenant();
  n integer;
BEGIN
  IF t IS NULL THEN
    RAISE EXCEPTION 'audit erasure needs a tenant scope' USING ERRCODE = '42501';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_user_id AND tenant_id = t AND deleted_at IS NOT NULL) THEN
    RAISE EXCEPTION 'audit erasure applies to deleted users of the current tenant only' USING ERRCODE = '42501';
  END IF;
  UPDATE audit_events a SET
      ip = CASE WHEN a.personal @> '[{"p": ["ip"]}]'::jsonb THEN NULL ELSE a.ip END,
      user_agent = CASE WHEN a.personal @> '[{"p": ["user_agent"]}]'::jsonb THEN NULL ELSE a.user_agent END,
      target = CASE WHEN a.personal @> '[{"p": ["target"]}]'::jsonb THEN NULL ELSE a.target END,
      metadata = ap_audit_blank_metadata(a.metadata, a.personal),
      erasure_keys = '{}'::text[],
      erased_at = now()
    WHERE a.tenant_id = t
      AND a.chain_version = 3
      AND a.erased_at IS NULL
      AND a.personal <> '[]'::jsonb
      AND (a.actor_id = p_user_id::text OR a.target = p_user_id::text
           OR (coalesce(cardinality(p_lookups), 0) > 0 AND a.erasure_keys && p_lookups));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- A SECURITY DEFINER function runs with its owner's rights: name its objects by this schema, and search
-- pg_temp last, so that no temporary table of the caller can stand in for users or audit_events.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION ap_audit_erase(uuid, text[]) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;
REVOKE ALL ON FUNCTION ap_audit_erase(uuid, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ap_audit_erase(uuid, text[]) TO authplane_app;
