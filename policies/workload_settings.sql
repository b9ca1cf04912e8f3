-- Row-level security, policies and grants for tessera.workload_settings.
--
--   operator      read every workload's settings
--   sponsor       read own clients' settings; change the TTL through
--                 tessera.set_exact_cache_ttl()
--   anon, proxy, settlement  nothing directly (the proxy reads tessera.worker_config())
--   service_role  read
--   owner         (SECURITY DEFINER functions and the config-version trigger) the
--                 settings of the one client named by tessera.recording_client_id
ALTER TABLE tessera.workload_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.workload_settings FORCE ROW LEVEL SECURITY;

CREATE POLICY workload_settings_select_operator_or_sponsor ON tessera.workload_settings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY workload_settings_select_definer_recording ON tessera.workload_settings
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY workload_settings_insert_definer_recording ON tessera.workload_settings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY workload_settings_update_definer_recording ON tessera.workload_settings
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). tessera.erase_client,
-- as the owner, counts the rows of the client this transaction is erasing
-- (tessera_private.erasing_client_id()) for the delete log; they go by ON DELETE CASCADE
-- with their workload.
CREATE POLICY workload_settings_select_definer_removal ON tessera.workload_settings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.workload_settings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.workload_settings TO service_role;
