-- Row-level security, policies and grants for tessera.optimize_savings.
--
--   operator       read every client's savings
--   sponsor        read own clients' savings
--   tessera_proxy  nothing directly: writes through tessera.record_request() (SECURITY
--                  DEFINER) and sees only what it returns
--   service_role   read (BYPASSRLS): readings, exports, benchmarks
--   owner          (record_request / record_requests, through
--                  tessera_private.ingest_requests) read and insert rows of the clients
--                  of the batch being recorded: the transaction-local setting
--                  tessera.ingest_client_ids, which ingest_requests sets from its own
--                  input before and clears after its statement (every read there is
--                  also keyed on each element's own client_id). Only tessera_owner is
--                  bound by these policies, and no other definer function reads this
--                  table.
--   anon           nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers
--                  on the parent and every partition, ENABLE ALWAYS)
-- Partitions carry RLS enabled and forced with no policy and no grant
-- (tessera_private.create_savings_partitions): a statement naming a partition directly
-- sees nothing, except as a superuser.
ALTER TABLE tessera.optimize_savings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.optimize_savings FORCE ROW LEVEL SECURITY;

CREATE POLICY optimize_savings_select_operator_or_sponsor ON tessera.optimize_savings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY optimize_savings_select_definer_ingest ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY optimize_savings_insert_definer_ingest ON tessera.optimize_savings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client or tessera.retention_run, reaches only the rows of the
-- client this transaction is erasing (tessera_private.erasing_client_id()) and the rows
-- past their window by the database clock (tessera_private.removal_cutoff, NULL outside a
-- retention run); and may strip the personal columns of the erased client's rows (the
-- append-only guard refuses any other change).
CREATE POLICY optimize_savings_select_definer_removal ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('optimize_savings')));

CREATE POLICY optimize_savings_delete_definer_removal ON tessera.optimize_savings
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('optimize_savings')));

CREATE POLICY optimize_savings_update_definer_erasure ON tessera.optimize_savings
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.optimize_savings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only; writes go through
-- record_request like the proxy's.
GRANT SELECT ON tessera.optimize_savings TO service_role;
