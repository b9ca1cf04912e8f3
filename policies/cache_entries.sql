-- Row-level security, policies and grants for tessera.cache_entries.
--
--   operator      read every entry's metadata (never response_body: column grants)
--   sponsor       read own clients' entry metadata; flush through tessera.flush_cache()
--   anon, settlement  nothing
--   proxy         nothing directly: tessera.cache_lookup() / cache_put()
--   service_role  read the metadata, delete (tessera.sweep purges expired entries)
--   owner         (SECURITY DEFINER functions) lookup / put: the entries of exactly one
--                 (client, workload) pair, from tessera.recording_client_id and
--                 tessera.recording_workload_id; flush: entries of clients the JWT caller
--                 may manage
ALTER TABLE tessera.cache_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.cache_entries FORCE ROW LEVEL SECURITY;

CREATE POLICY cache_entries_select_operator_or_sponsor ON tessera.cache_entries
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY cache_entries_select_definer_workload ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
           AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);

CREATE POLICY cache_entries_insert_definer_workload ON tessera.cache_entries
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
                AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);

CREATE POLICY cache_entries_update_definer_workload ON tessera.cache_entries
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
           AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
                AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);

-- tessera.flush_cache: the caller's own clients (operators: all).
CREATE POLICY cache_entries_select_definer_for_caller ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY cache_entries_delete_definer_for_caller ON tessera.cache_entries
    FOR DELETE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()).
CREATE POLICY cache_entries_select_definer_removal ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY cache_entries_delete_definer_removal ON tessera.cache_entries
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: metadata only, rows narrowed by the policy above.
GRANT SELECT (client_id, workload_id, entry_id, content_type, stored_at, expires_at)
    ON tessera.cache_entries TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): metadata, and DELETE for the sweeper.
GRANT SELECT (client_id, workload_id, entry_id, content_type, stored_at, expires_at)
    ON tessera.cache_entries TO service_role;
GRANT DELETE ON tessera.cache_entries TO service_role;
