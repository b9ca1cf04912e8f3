-- Row-level security, policies and grants for tessera.client_users.
--
--   operator  read/write every sponsor contact
--   sponsor   read the contacts of their own clients
--   anon      nothing
--   owner     (sponsor_client_ids(), SECURITY DEFINER) only rows of the caller's email
ALTER TABLE tessera.client_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.client_users FORCE ROW LEVEL SECURITY;

CREATE POLICY client_users_select_operator_or_sponsor ON tessera.client_users
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY client_users_insert_operator ON tessera.client_users
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_users_update_operator ON tessera.client_users
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_users_delete_operator ON tessera.client_users
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- sponsor_client_ids() runs as the owner; this is what it may see, and no more.
CREATE POLICY client_users_select_definer_own_email ON tessera.client_users
    FOR SELECT TO tessera_owner
    USING (email = (SELECT tessera_private.jwt_email()));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()).
CREATE POLICY client_users_select_definer_removal ON tessera.client_users
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY client_users_delete_definer_removal ON tessera.client_users
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.client_users TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.client_users TO service_role;
