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

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO service_role;

-- [issue 4, savings ledger] tessera.record_request (SECURITY DEFINER, run by the proxy
-- login) must read the workload's mechanic_* opt-ins. It runs as tessera_owner, which
-- FORCE RLS confines: this policy admits only the workloads of the one client named by
-- the transaction-local setting tessera.recording_client_id, which record_request sets
-- before and clears after its reads. No other definer function reads workloads.
CREATE POLICY workloads_select_definer_recording ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
