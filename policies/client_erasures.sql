-- Row-level security, policies and grants for tessera.client_erasures (the operator-side
-- delete log).
--
--   operator       read every row; attach the signed deletion certificate to a finished
--                  erasure, once (the guard trigger refuses any other change)
--   sponsor        nothing: the client they sponsored is gone
--   service_role   read (BYPASSRLS): the retention job and the evidence tooling
--   owner          (tessera.erase_client) insert this transaction's row while an erasure
--                  runs, read it (tessera_private.erasing_client_id) and complete it;
--                  read an operator caller's rows (an erasure asked for twice returns the
--                  first); (tessera.retention_run) delete rows past their window
--   anon, the proxy and settlement logins: nothing
ALTER TABLE tessera.client_erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.client_erasures FORCE ROW LEVEL SECURITY;

CREATE POLICY client_erasures_select_operator ON tessera.client_erasures
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY client_erasures_update_operator_certificate ON tessera.client_erasures
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_erasures_select_definer_own_txid ON tessera.client_erasures
    FOR SELECT TO tessera_owner
    USING (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned())
           OR (SELECT tessera_private.is_operator())
           OR finished_at < (SELECT tessera_private.removal_cutoff('client_erasures')));

CREATE POLICY client_erasures_insert_definer_erasure ON tessera.client_erasures
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT pg_catalog.current_setting('tessera.removal', true)) = 'erasure'
                AND finished_at IS NULL
                AND txid = (SELECT pg_catalog.pg_current_xact_id()));

CREATE POLICY client_erasures_update_definer_erasure ON tessera.client_erasures
    FOR UPDATE TO tessera_owner
    USING (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()) AND finished_at IS NULL)
    WITH CHECK (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()));

CREATE POLICY client_erasures_delete_definer_retention ON tessera.client_erasures
    FOR DELETE TO tessera_owner
    USING (finished_at < (SELECT tessera_private.removal_cutoff('client_erasures')));

GRANT SELECT ON tessera.client_erasures TO authenticated;
GRANT UPDATE (certificate) ON tessera.client_erasures TO authenticated;

GRANT SELECT ON tessera.client_erasures TO service_role;
