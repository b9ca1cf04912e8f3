-- Row-level security, policies and grants for tessera.worker_config_versions (issue 15).
--
--   operator       read every workload's config history
--   sponsor        read own clients' history
--   service_role   read
--   anon, proxy, settlement  nothing directly
--   owner          (the config-version trigger) appends the history of the client named
--                  by tessera.recording_client_id; (ingest) reads the history of the
--                  clients of the batch (tessera.ingest_client_ids); counts the erased
--                  client's rows (they go by ON DELETE CASCADE with its workloads)
--   nobody         UPDATE, DELETE, TRUNCATE
ALTER TABLE tessera.worker_config_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.worker_config_versions FORCE ROW LEVEL SECURITY;

CREATE POLICY worker_config_versions_select_operator_or_sponsor ON tessera.worker_config_versions
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY worker_config_versions_select_definer_recording ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY worker_config_versions_insert_definer_recording ON tessera.worker_config_versions
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY worker_config_versions_select_definer_ingest ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md).
CREATE POLICY worker_config_versions_select_definer_removal ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.worker_config_versions TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.worker_config_versions TO service_role;
