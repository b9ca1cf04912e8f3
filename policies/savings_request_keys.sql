-- Row-level security, policies and grants for tessera.savings_request_keys.
--
--   owner     (tessera.record_request, SECURITY DEFINER) the keys of the one client it
--             is recording for (tessera.recording_client_id, set by record_request)
--   everyone else  nothing: an internal key table, no grant to any API or login role
--   nobody    UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.savings_request_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.savings_request_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
