-- Row-level security, policies and grants for tessera.balance_transactions (and its
-- derived view tessera.client_balances).
--
--   operator       read every client's ledger; append through record_balance_transaction
--   sponsor        read own clients' ledger and balance
--   service_role   read and append (BYPASSRLS): payment webhooks, usage settlement
--   anon, proxy    nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.balance_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.balance_transactions FORCE ROW LEVEL SECURITY;

CREATE POLICY balance_transactions_select_operator_or_sponsor ON tessera.balance_transactions
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY balance_transactions_insert_operator ON tessera.balance_transactions
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client or tessera.retention_run, reaches only the rows of the
-- client this transaction is erasing (tessera_private.erasing_client_id()) and the rows
-- past their window by the database clock (tessera_private.removal_cutoff, NULL outside a
-- retention run); and may strip the personal columns of the erased client's rows (the
-- append-only guard refuses any other change).
CREATE POLICY balance_transactions_select_definer_removal ON tessera.balance_transactions
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR created_at < (SELECT tessera_private.removal_cutoff('balance_transactions')));

CREATE POLICY balance_transactions_delete_definer_removal ON tessera.balance_transactions
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR created_at < (SELECT tessera_private.removal_cutoff('balance_transactions')));

CREATE POLICY balance_transactions_update_definer_erasure ON tessera.balance_transactions
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows narrowed by the policies above. No UPDATE/DELETE.
GRANT SELECT, INSERT ON tessera.balance_transactions TO authenticated;
GRANT SELECT ON tessera.client_balances TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No UPDATE/DELETE/TRUNCATE for anyone.
GRANT SELECT, INSERT ON tessera.balance_transactions TO service_role;
GRANT SELECT ON tessera.client_balances TO service_role;
