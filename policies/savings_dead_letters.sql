-- Row-level security, policies and grants for tessera.savings_dead_letters (and so for
-- the view tessera.savings_dead_letter_status, which is security_invoker).
--
--   operator       read every client's dead letters (and the nil-uuid ones: elements
--                  that named no client)
--   sponsor        read own clients' dead letters
--   service_role   read (BYPASSRLS); replays through tessera.replay_dead_letters()
--   tessera_proxy  nothing directly: record_requests() writes its rejections here
--   owner          (definer functions) append rows for the clients of the batch being
--                  recorded (tessera.ingest_client_ids, set by ingest_requests /
--                  write_dead_letters / replay_dead_letters from their own input), and
--                  read only while replay_dead_letters replays
--                  (tessera.replaying_dead_letters = 'on')
--   anon           nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.savings_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.savings_dead_letters FORCE ROW LEVEL SECURITY;

CREATE POLICY savings_dead_letters_select_operator_or_sponsor ON tessera.savings_dead_letters
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY savings_dead_letters_insert_definer_ingest ON tessera.savings_dead_letters
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY savings_dead_letters_select_definer_replaying ON tessera.savings_dead_letters
    FOR SELECT TO tessera_owner
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.replaying_dead_letters', true)), '') = 'on');

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client or tessera.retention_run, reaches only the rows of the
-- client this transaction is erasing (tessera_private.erasing_client_id()) and the rows
-- past their window by the database clock (tessera_private.removal_cutoff, NULL outside a
-- retention run).
CREATE POLICY savings_dead_letters_select_definer_removal ON tessera.savings_dead_letters
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR attempted_at < (SELECT tessera_private.removal_cutoff('savings_dead_letters')));

CREATE POLICY savings_dead_letters_delete_definer_removal ON tessera.savings_dead_letters
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR attempted_at < (SELECT tessera_private.removal_cutoff('savings_dead_letters')));

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.savings_dead_letters TO authenticated;
GRANT SELECT ON tessera.savings_dead_letter_status TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only.
GRANT SELECT ON tessera.savings_dead_letters TO service_role;
GRANT SELECT ON tessera.savings_dead_letter_status TO service_role;
