-- Row-level security, policies and grants for tessera.anomalies (issue 15).
--
--   operator       read every client's anomalies; act through tessera.respond_to_anomaly
--   sponsor        read own clients' anomalies; acknowledge them and re-enable their
--                  disabled stacks through tessera.respond_to_anomaly (no direct write)
--   service_role   read; open (tessera.sla_run writes sla_breach rows)
--   anon, proxy, settlement  nothing (the proxy's requests open anomalies inside
--                  tessera.record_request(s), as the owner)
--   owner          (SECURITY DEFINER functions) reads the disabled stacks of the client
--                  named by tessera.recording_client_id (worker_config); reads and opens
--                  the anomalies of the clients of the ingesting batch
--                  (tessera.ingest_client_ids); reads and updates the anomalies of the
--                  clients the caller may manage (respond_to_anomaly); deletes the
--                  erased client's (erase_client)
--   nobody         TRUNCATE; the state machine is the guard trigger's
ALTER TABLE tessera.anomalies ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.anomalies FORCE ROW LEVEL SECURITY;

CREATE POLICY anomalies_select_operator_or_sponsor ON tessera.anomalies
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY anomalies_select_definer_recording ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY anomalies_select_definer_ingest ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY anomalies_insert_definer_ingest ON tessera.anomalies
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY anomalies_select_definer_manage ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY anomalies_update_definer_manage ON tessera.anomalies
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md): tessera.erase_client, as the
-- owner, deletes the rows of the client this transaction is erasing.
CREATE POLICY anomalies_select_definer_removal ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY anomalies_delete_definer_removal ON tessera.anomalies
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.anomalies TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read, and open (the SLA job).
GRANT SELECT, INSERT ON tessera.anomalies TO service_role;
