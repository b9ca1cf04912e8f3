-- Row-level security, policies and grants for tessera.price_import_runs.
--
--   operator       read (file names, hashes and who imported: internal operations data)
--   sponsor, anon  nothing (observations carry the run id; the run itself is internal)
--   service_role   read; writes only through tessera.record_price_observations()
--   tessera_proxy  nothing
--   owner          (record_price_observations) insert runs whose prices were observed
--                  no later than the import itself
ALTER TABLE tessera.price_import_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_import_runs FORCE ROW LEVEL SECURITY;

CREATE POLICY price_import_runs_select_operator ON tessera.price_import_runs
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY price_import_runs_insert_definer ON tessera.price_import_runs
    FOR INSERT TO tessera_owner
    WITH CHECK (observed_at <= imported_at);

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_import_runs TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_import_runs TO service_role;
