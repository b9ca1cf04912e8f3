-- Row-level security, policies and grants for tessera.workloads.
--
--   operator  read/write every workload
--   sponsor   read own clients' workloads; UPDATE of their mechanic_* flags only
--             (rows: policy below; columns: trigger workloads_guard_sponsor_update)
--   anon      nothing
ALTER TABLE tessera.workloads ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.workloads FORCE ROW LEVEL SECURITY;

CREATE POLICY workloads_select_operator_or_sponsor ON tessera.workloads
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY workloads_insert_operator ON tessera.workloads
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- WITH CHECK repeats the sponsor test so a sponsor cannot move a workload to a client
-- they do not sponsor (a forged client_id); the column guard refuses that too.
CREATE POLICY workloads_update_operator_or_sponsor ON tessera.workloads
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY workloads_delete_operator ON tessera.workloads
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- Column half of the sponsor rule: only mechanic_* flags may change.
CREATE TRIGGER workloads_guard_sponsor_update
    BEFORE UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_workload_sponsor_update();

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()): it deletes them, or (an invoiced client)
-- replaces their personal columns and keeps them for the kept accounting rows.
CREATE POLICY workloads_select_definer_removal ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY workloads_delete_definer_removal ON tessera.workloads
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY workloads_update_definer_erasure ON tessera.workloads
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO service_role;

-- Definer functions acting for one client (worker_config, verify_api_key's workload
-- scope, cache and batch functions) read its workloads: this policy admits only the
-- workloads of the one client named by the transaction-local setting
-- tessera.recording_client_id, which each of them sets before and clears after its
-- reads.
CREATE POLICY workloads_select_definer_recording ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- [hot path] tessera_private.ingest_requests (record_request / record_requests, SECURITY
-- DEFINER, run by the proxy login) reads the mechanic_* opt-ins of every element's
-- workload in one statement: the workloads of the clients named in the batch
-- (tessera.ingest_client_ids, set by ingest_requests from its own input), each element's
-- read keyed on its own client_id.
CREATE POLICY workloads_select_definer_ingest ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
