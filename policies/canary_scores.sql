-- Row-level security, policies and grants for tessera.canary_scores (issue 15).
--
--   operator       read every client's scores
--   sponsor        read own clients' scores
--   service_role   read (tessera.sla_run); writes through tessera.record_canary_scores
--   anon, proxy, settlement  nothing directly (the proxy writes through
--                  tessera.record_canary_scores)
--   owner          (record_canary_scores) reads and appends the rows of the clients
--                  named in the call (tessera.ingest_client_ids); removes the erased
--                  client's rows and the rows past the retention window
--   nobody         UPDATE, DELETE or TRUNCATE otherwise: append-only (make_append_only)
ALTER TABLE tessera.canary_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.canary_scores FORCE ROW LEVEL SECURITY;

CREATE POLICY canary_scores_select_operator_or_sponsor ON tessera.canary_scores
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY canary_scores_select_definer_ingest ON tessera.canary_scores
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY canary_scores_insert_definer_ingest ON tessera.canary_scores
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md): the owner, running
-- tessera.erase_client or tessera.retention_run, reaches only the erased client's rows
-- and the rows past their window by the database clock.
CREATE POLICY canary_scores_select_definer_removal ON tessera.canary_scores
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR sampled_at < (SELECT tessera_private.removal_cutoff('canary_scores')));

CREATE POLICY canary_scores_delete_definer_removal ON tessera.canary_scores
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR sampled_at < (SELECT tessera_private.removal_cutoff('canary_scores')));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.canary_scores TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.canary_scores TO service_role;
