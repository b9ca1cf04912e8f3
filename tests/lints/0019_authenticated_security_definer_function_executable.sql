-- 0019_authenticated_security_definer_function_executable: a SECURITY DEFINER function in the
-- schema the API exposes (tessera, PostgREST's db-schemas) that `authenticated` may execute.
-- Supabase's Security Advisor flags the same condition; the project keeps definer
-- bodies in tessera_private behind SECURITY INVOKER wrappers in tessera.
-- Zero rows when healthy. Doc: tests/lints/README.md#0019_authenticated_security_definer_function_executable
WITH exposed AS (
    SELECT ARRAY['tessera']::name[] AS schemas
)
SELECT
    'authenticated_security_definer_function_executable'::text AS name,
    'SECURITY DEFINER function in the exposed schema executable by authenticated'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects SECURITY DEFINER functions in the exposed API schema that every signed-in user may call as an RPC; they run with the owner''s privileges and bypass row-level security.'::text AS description,
    pg_catalog.format('Function %I.%I(%s) is SECURITY DEFINER and executable by authenticated as an RPC.',
                      n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS detail,
    'tests/lints/README.md#0019_authenticated_security_definer_function_executable'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function',
                                  'arguments', pg_catalog.pg_get_function_identity_arguments(p.oid)) AS metadata,
    pg_catalog.format('authenticated_security_definer_function_executable_%s_%s_%s', n.nspname, p.proname,
                      pg_catalog.md5(pg_catalog.pg_get_function_identity_arguments(p.oid))) AS cache_key
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
CROSS JOIN exposed
WHERE n.nspname = ANY (exposed.schemas)
  AND p.prosecdef
  AND pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)
