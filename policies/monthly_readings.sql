-- Row-level security, policies and grants for tessera.monthly_readings.
--
--   operator  read every reading; issue through tessera.issue_monthly_reading()
--   sponsor   read own clients' readings
--   anon      nothing; a shared reading only through tessera.reading_by_share_token()
--   owner     (SECURITY DEFINER functions) the caller's own clients' readings, and the
--             one reading a presented share token opens
--   nobody    UPDATE, DELETE or TRUNCATE: append-only (triggers from make_append_only)
ALTER TABLE tessera.monthly_readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.monthly_readings FORCE ROW LEVEL SECURITY;

CREATE POLICY monthly_readings_select_operator_or_sponsor ON tessera.monthly_readings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- Operators issue readings (tessera.issue_monthly_reading runs with the caller's rights).
CREATE POLICY monthly_readings_insert_operator ON tessera.monthly_readings
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- tessera.create_reading_share_token runs as the owner: the caller's own clients only.
CREATE POLICY monthly_readings_select_definer_for_caller ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- tessera.reading_by_share_token runs as the owner: the one reading named by the token
-- row the presented token opens (that row is itself filtered by the owner's token policy).
CREATE POLICY monthly_readings_select_definer_by_share_token ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING ((client_id, month, version) IN (
               SELECT t.client_id, t.month, t.version
                 FROM tessera.reading_share_tokens AS t
                WHERE t.token_sha256 = (SELECT tessera_private.presented_share_token_sha256())));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client or tessera.retention_run, reaches only the rows of the
-- client this transaction is erasing (tessera_private.erasing_client_id()) and the rows
-- past their window by the database clock (tessera_private.removal_cutoff, NULL outside a
-- retention run); and may strip the personal columns of the erased client's rows (the
-- append-only guard refuses any other change).
CREATE POLICY monthly_readings_select_definer_removal ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR issued_at < (SELECT tessera_private.removal_cutoff('monthly_readings')));

CREATE POLICY monthly_readings_delete_definer_removal ON tessera.monthly_readings
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR issued_at < (SELECT tessera_private.removal_cutoff('monthly_readings')));

CREATE POLICY monthly_readings_update_definer_erasure ON tessera.monthly_readings
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows are narrowed by the policies above. No UPDATE or
-- DELETE: issued readings are immutable (a correction is a new version).
GRANT SELECT, INSERT ON tessera.monthly_readings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): the nightly issue job.
GRANT SELECT, INSERT ON tessera.monthly_readings TO service_role;
