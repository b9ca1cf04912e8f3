-- Row-level security, policies and grants for tessera.operators.
--
--   operator  read/write the staff list
--   sponsor   nothing
--   anon      nothing
--   owner     (is_operator(), SECURITY DEFINER) only the row of the caller's own email
ALTER TABLE tessera.operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.operators FORCE ROW LEVEL SECURITY;

CREATE POLICY operators_select_operator ON tessera.operators
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_insert_operator ON tessera.operators
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_update_operator ON tessera.operators
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_delete_operator ON tessera.operators
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- is_operator() runs as the owner; this is what it may see, and no more.
CREATE POLICY operators_select_definer_own_email ON tessera.operators
    FOR SELECT TO tessera_owner
    USING (email = (SELECT tessera_private.jwt_email()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.operators TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.operators TO service_role;
