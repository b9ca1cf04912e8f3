-- Row-level security, policies and grants for tessera.api_key_failures.
--
--   operator      read every failure (a platform security log)
--   sponsor, anon, proxy, settlement  nothing (sponsors see their clients' auth_failure
--                 events in audit_events when the presented key was one of theirs)
--   service_role  read, and delete (tessera.sweep purges rows older than 7 days)
--   owner         (tessera.verify_api_key, SECURITY DEFINER) read and append the failures
--                 of the one calling source (setting tessera.api_key_source)
ALTER TABLE tessera.api_key_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.api_key_failures FORCE ROW LEVEL SECURITY;

CREATE POLICY api_key_failures_select_operator ON tessera.api_key_failures
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY api_key_failures_select_definer_source ON tessera.api_key_failures
    FOR SELECT TO tessera_owner
    USING (source = NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_source', true)), ''));

CREATE POLICY api_key_failures_insert_definer_source ON tessera.api_key_failures
    FOR INSERT TO tessera_owner
    WITH CHECK (source = NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_source', true)), ''));

-- Privileges for authenticated: read, narrowed to operators by the policy above.
GRANT SELECT ON tessera.api_key_failures TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read and purge. No TRUNCATE for anyone but the owner.
GRANT SELECT, DELETE ON tessera.api_key_failures TO service_role;
