-- Row-level security, policies and grants for tessera.savings_request_keys.
--
--   owner     (record_request / record_requests, through ingest_requests) the keys of
--             the clients of the batch being recorded (tessera.ingest_client_ids, set
--             by ingest_requests from its own input)
--   everyone else  nothing: an internal key table, no grant to any API or login role
--   nobody    UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.savings_request_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.savings_request_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY savings_request_keys_select_definer_ingest ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY savings_request_keys_insert_definer_ingest ON tessera.savings_request_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client or tessera.retention_run, reaches only the rows of the
-- client this transaction is erasing (tessera_private.erasing_client_id()) and the rows
-- past their window by the database clock (tessera_private.removal_cutoff, NULL outside a
-- retention run).
CREATE POLICY savings_request_keys_select_definer_removal ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('savings_request_keys')));

CREATE POLICY savings_request_keys_delete_definer_removal ON tessera.savings_request_keys
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('savings_request_keys')));

