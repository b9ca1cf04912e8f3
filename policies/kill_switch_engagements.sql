-- Row-level security, policies and grants for tessera.kill_switch_engagements (issue 15).
--
--   operator       read every client's engagements
--   sponsor        read own clients' engagements (tessera.kill_switch_report)
--   service_role   read
--   anon, proxy, settlement  nothing
--   owner          (the kill-switch trigger) opens and closes the engagements of the
--                  client named by tessera.recording_client_id; (ingest) reads those of
--                  the clients of the batch (tessera.ingest_client_ids); deletes the
--                  erased client's (erase_client)
--   nobody         writes directly: only the trigger on tessera.clients does
ALTER TABLE tessera.kill_switch_engagements ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.kill_switch_engagements FORCE ROW LEVEL SECURITY;

CREATE POLICY kill_switch_engagements_select_operator_or_sponsor ON tessera.kill_switch_engagements
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY kill_switch_engagements_select_definer_recording ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_insert_definer_recording ON tessera.kill_switch_engagements
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_update_definer_recording ON tessera.kill_switch_engagements
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_select_definer_ingest ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md).
CREATE POLICY kill_switch_engagements_select_definer_removal ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY kill_switch_engagements_delete_definer_removal ON tessera.kill_switch_engagements
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.kill_switch_engagements TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.kill_switch_engagements TO service_role;
