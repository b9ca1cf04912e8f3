-- Row-level security, policies and grants for tessera.clients.
--
--   operator  read/write every client
--   sponsor   read own clients; kill switch and cross-customer opt-in only through
--             tessera.set_kill_switch / tessera.set_cross_customer_intelligence
--   anon      nothing
--   owner     (SECURITY DEFINER functions) only the caller's own clients
ALTER TABLE tessera.clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.clients FORCE ROW LEVEL SECURITY;

CREATE POLICY clients_select_operator_or_sponsor ON tessera.clients
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY clients_insert_operator ON tessera.clients
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY clients_update_operator ON tessera.clients
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY clients_delete_operator ON tessera.clients
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- The portal-setting functions run as tessera_owner; FORCE RLS keeps even them to the
-- clients the JWT caller may manage.
CREATE POLICY clients_select_definer_for_caller ON tessera.clients
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY clients_update_definer_for_caller ON tessera.clients
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- [issue 6, worker config / batches / cache] The proxy- and settlement-facing SECURITY
-- DEFINER functions (tessera.worker_config, create_batch, cache_lookup, cache_put) read
-- the client's kill switch. They run as tessera_owner, and carry no JWT: this policy
-- admits only the one client named by the transaction-local setting
-- tessera.recording_client_id, which those functions set from their argument and clear
-- afterwards (the same setting that admits that client's workloads, policies/workloads.sql).
CREATE POLICY clients_select_definer_recording ON tessera.clients
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()): it deletes them, or (an invoiced client)
-- replaces their personal columns and keeps them for the kept accounting rows.
CREATE POLICY clients_select_definer_removal ON tessera.clients
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY clients_delete_definer_removal ON tessera.clients
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY clients_update_definer_erasure ON tessera.clients
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.clients TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.clients TO service_role;
