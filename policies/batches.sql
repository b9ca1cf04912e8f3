-- Row-level security, policies and grants for tessera.batches.
--
--   operator      read every batch
--   sponsor       read own clients' batches
--   anon          nothing
--   proxy, settlement  nothing directly: tessera.create_batch() / transition_batch()
--   service_role  read
--   nobody        INSERT, UPDATE or DELETE directly: batches are created and moved only
--                 through the functions, and the transition trigger guards every role
--   owner         (SECURITY DEFINER functions) the batches of the one client named by
--                 tessera.recording_client_id (set by the function acting for it)
ALTER TABLE tessera.batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.batches FORCE ROW LEVEL SECURITY;

CREATE POLICY batches_select_operator_or_sponsor ON tessera.batches
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY batches_select_definer_recording ON tessera.batches
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY batches_insert_definer_recording ON tessera.batches
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY batches_update_definer_recording ON tessera.batches
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()).
CREATE POLICY batches_select_definer_removal ON tessera.batches
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY batches_delete_definer_removal ON tessera.batches
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.batches TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read. No write: use the functions.
GRANT SELECT ON tessera.batches TO service_role;
